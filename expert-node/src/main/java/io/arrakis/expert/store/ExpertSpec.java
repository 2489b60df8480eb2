package io.arrakis.expert.store;

import io.arrakis.model.placement.ExpertId;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Parses which experts a node holds: comma-separated items {@code LAYERS:EXPERTS}, each side an
 * index, a range {@code a-b} or {@code *}; {@code all} means every expert of every MoE layer,
 * {@code none} no expert (until LoadExperts). Examples: {@code all}, {@code 0:0-3}, {@code *:4-7},
 * {@code 0:1,1:2-5}.
 */
public final class ExpertSpec {
  private ExpertSpec() {}

  /** The experts named by {@code spec} among {@code moeLayers} × [0, experts). */
  public static List<ExpertId> parse(String spec, List<Integer> moeLayers, int experts) {
    TreeSet<ExpertId> out = new TreeSet<>();
    String s = spec.trim();
    if (s.equals("all")) {
      s = "*:*";
    }
    if (s.equals("none")) {
      return List.of(); // a node that waits for LoadExperts (re-placement, scaling up)
    }
    // -1: a trailing comma or colon is an empty item or part, named, not dropped
    for (String item : s.split(",", -1)) {
      String[] parts = item.trim().split(":", -1);
      if (parts.length != 2) {
        throw new IllegalArgumentException(
            "bad experts item '" + item + "': expected LAYERS:EXPERTS, e.g. 0:0-3 or *:*");
      }
      List<Integer> layers = range(parts[0], moeLayers, item);
      List<Integer> ids = range(parts[1], ids(experts), item);
      for (int l : layers) {
        if (!moeLayers.contains(l)) {
          throw new IllegalArgumentException(
              "experts item '" + item + "': layer " + l + " is not an MoE layer " + moeLayers);
        }
        for (int e : ids) {
          if (e < 0 || e >= experts) {
            throw new IllegalArgumentException(
                "experts item '" + item + "': expert " + e + " out of range 0.." + (experts - 1));
          }
          out.add(new ExpertId(l, e));
        }
      }
    }
    return List.copyOf(out);
  }

  private static List<Integer> ids(int n) {
    List<Integer> all = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      all.add(i);
    }
    return all;
  }

  private static List<Integer> range(String part, List<Integer> all, String item) {
    String p = part.trim();
    if (p.equals("*")) {
      return all;
    }
    try {
      int dash = p.indexOf('-');
      if (dash < 0) {
        return List.of(Integer.parseInt(p));
      }
      int from = Integer.parseInt(p.substring(0, dash).trim());
      int to = Integer.parseInt(p.substring(dash + 1).trim());
      if (to < from) {
        throw new IllegalArgumentException("experts item '" + item + "': empty range " + p);
      }
      // at most one value more than there are valid ones: a longer range holds an invalid value
      // among them, which the caller names, without counting to 2^31
      List<Integer> r = new ArrayList<>();
      for (long i = from; i <= to && i <= (long) from + all.size(); i++) {
        r.add((int) i);
      }
      return r;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "experts item '" + item + "': '" + p + "' is not an index, a range a-b or *");
    }
  }
}
