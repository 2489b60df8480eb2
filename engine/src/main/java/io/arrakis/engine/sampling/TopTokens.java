package io.arrakis.engine.sampling;

/**
 * The k largest of a vocabulary's scores in order (the larger first; the lower id first on ties),
 * found in one pass with a bounded heap: O(V log k), not the O(V log V) of sorting every token,
 * which for a real vocabulary (150,000 ids) costs milliseconds per token.
 */
final class TopTokens {
  private TopTokens() {}

  /**
   * Ids (offsets from {@code from}) of the {@code k} largest of {@code scores[from .. from + n)},
   * best first. NaN scores are never chosen.
   */
  static int[] of(float[] scores, int from, int n, int k) {
    k = Math.min(k, n);
    // a min-heap of the best k so far: its root is the worst of them, replaced by anything better
    int[] heap = new int[k];
    int size = 0;
    for (int i = 0; i < n; i++) {
      float s = scores[from + i];
      if (Float.isNaN(s)) {
        continue;
      }
      if (size < k) {
        heap[size] = i;
        up(heap, size++, scores, from);
      } else if (better(scores, from, i, heap[0])) {
        heap[0] = i;
        down(heap, size, scores, from);
      }
    }
    int[] out = new int[size];
    for (int end = size - 1; end >= 0; end--) {
      out[end] = heap[0]; // the worst left goes last
      heap[0] = heap[end];
      down(heap, end, scores, from);
    }
    return out;
  }

  /** Whether id {@code a} ranks above id {@code b}. */
  private static boolean better(float[] s, int from, int a, int b) {
    float x = s[from + a];
    float y = s[from + b];
    return x > y || (x == y && a < b);
  }

  private static void up(int[] heap, int i, float[] s, int from) {
    while (i > 0) {
      int parent = (i - 1) / 2;
      if (!better(s, from, heap[parent], heap[i])) {
        return;
      }
      swap(heap, i, parent);
      i = parent;
    }
  }

  private static void down(int[] heap, int size, float[] s, int from) {
    int i = 0;
    while (true) {
      int worst = i;
      int l = 2 * i + 1;
      int r = l + 1;
      if (l < size && better(s, from, heap[worst], heap[l])) {
        worst = l;
      }
      if (r < size && better(s, from, heap[worst], heap[r])) {
        worst = r;
      }
      if (worst == i) {
        return;
      }
      swap(heap, i, worst);
      i = worst;
    }
  }

  private static void swap(int[] a, int i, int j) {
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
