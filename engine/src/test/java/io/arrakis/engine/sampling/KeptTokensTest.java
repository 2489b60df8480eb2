package io.arrakis.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The kept set is exactly the one its definition gives by sorting every token (probability down, id
 * up): the first top-k, then the shortest prefix of them whose mass reaches top-p — for
 * distributions peaked and flat, with many ties, small and vocabulary-sized (up to the rounding of
 * a sum).
 */
class KeptTokensTest {
  private static final double ROUNDING = 1e-12;

  /** The definition, by a full sort. */
  private static TreeSet<Integer> bySorting(double[] p, int topK, double topP) {
    Integer[] order = new Integer[p.length];
    for (int i = 0; i < p.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : a - b);
    int keep = topK > 0 ? Math.min(topK, p.length) : p.length;
    TreeSet<Integer> kept = new TreeSet<>();
    double mass = 0;
    for (int i = 0; i < keep; i++) {
      kept.add(order[i]);
      mass += p[order[i]];
      if (mass >= topP) {
        break;
      }
    }
    return kept;
  }

  private static double[] distribution(SplittableRandom r, int n, double spread, boolean ties) {
    double[] p = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      double logit = r.nextGaussian() * spread;
      p[i] = Math.exp(ties ? Math.round(logit * 2) / 2.0 : logit);
      sum += p[i];
    }
    for (int i = 0; i < n; i++) {
      p[i] /= sum;
    }
    return p;
  }

  @Test
  void theKeptSetIsTheDefinitionsForEveryShapeAndLimit() {
    SplittableRandom r = new SplittableRandom(3);
    int cases = 0;
    for (int n : new int[] {1, 2, 7, 17, 100, 5000}) {
      for (double spread : new double[] {0.05, 1, 4}) {
        for (boolean ties : new boolean[] {false, true}) {
          double[] p = distribution(r, n, spread, ties);
          for (int topK : new int[] {0, 1, 3, 40, n}) {
            for (double topP : new double[] {0.01, 0.3, 0.9, 0.999, 1}) {
              KeptTokens kept = KeptTokens.of(p, n, topK, topP);
              TreeSet<Integer> got = new TreeSet<>();
              double mass = 0;
              for (int i = 0; i < kept.count(); i++) {
                got.add(kept.ids()[i]);
                mass += p[kept.ids()[i]];
              }
              String what =
                  "n %d spread %s ties %s top-k %d top-p %s".formatted(n, spread, ties, topK, topP);
              // masses are summed in another order than the definition's: where a prefix's mass
              // lands on top-p itself (equal probabilities), rounding may move the cut by a token
              assertThat(got)
                  .as(what)
                  .isIn(
                      bySorting(p, topK, topP),
                      bySorting(p, topK, topP - ROUNDING),
                      bySorting(p, topK, topP + ROUNDING));
              assertThat(kept.count()).as(what).isEqualTo(got.size());
              assertThat(kept.mass()).as(what).isCloseTo(mass, within(1e-12));
              cases++;
            }
          }
        }
      }
    }
    assertThat(cases).isEqualTo(6 * 3 * 2 * 5 * 5);
  }
}
