package io.arrakis.engine.sampling;

/**
 * The tokens top-k and top-p keep: rank every token by probability (the lower id first on ties),
 * take the shortest prefix of that ranking whose mass reaches top-p, and at most top-k of it. Found
 * by quickselect on mass (O(V) expected), never by sorting the vocabulary: a wide nucleus (a flat
 * distribution, a high temperature) then costs about what a narrow one does.
 *
 * @param ids the kept tokens occupy {@code ids[0 .. count)}, in no particular order (but always the
 *     same one for the same probabilities)
 * @param count how many are kept (at least 1)
 * @param mass their total probability
 */
record KeptTokens(int[] ids, int count, double mass) {
  /** Ranges this short are finished by insertion sort. */
  private static final int SHORT = 16;

  /**
   * @param p probabilities of tokens {@code 0 .. vocab)}, summing to 1
   * @param topK keep at most this many (0: no limit)
   * @param topP keep the shortest prefix of the ranking whose mass reaches this (1: all)
   */
  static KeptTokens of(double[] p, int vocab, int topK, double topP) {
    int[] ids = new int[vocab];
    for (int i = 0; i < vocab; i++) {
      ids[i] = i;
    }
    int count = topP >= 1 ? vocab : prefixReaching(p, ids, vocab, topP);
    if (topK > 0 && topK < count) {
      selectBest(p, ids, count, topK);
      count = topK;
    }
    double mass = 0;
    for (int i = 0; i < count; i++) {
      mass += p[ids[i]];
    }
    return new KeptTokens(ids, count, mass);
  }

  /**
   * Rearranges {@code ids[0 .. n)} so that its shortest best-ranked prefix whose mass reaches
   * {@code target} comes first, and returns its length.
   */
  private static int prefixReaching(double[] p, int[] ids, int n, double target) {
    int lo = 0;
    int hi = n;
    double above = 0; // the mass of ids[0 .. lo), all of which rank above ids[lo .. n)
    while (hi - lo > SHORT) {
      int m = partition(p, ids, lo, hi);
      double upper = 0;
      for (int i = lo; i < m; i++) {
        upper += p[ids[i]];
      }
      if (above + upper >= target) {
        hi = m; // reached before the pivot
      } else if (above + upper + p[ids[m]] >= target) {
        return m + 1; // reached by the pivot
      } else {
        above += upper + p[ids[m]];
        lo = m + 1;
      }
    }
    insertionSort(p, ids, lo, hi);
    for (int i = lo; i < hi; i++) {
      above += p[ids[i]];
      if (above >= target) {
        return i + 1;
      }
    }
    return hi; // rounding left the whole mass just short of the target: all of it
  }

  /** Rearranges {@code ids[0 .. n)} so that its {@code k} best come first. */
  private static void selectBest(double[] p, int[] ids, int n, int k) {
    int lo = 0;
    int hi = n;
    while (hi - lo > SHORT) {
      int m = partition(p, ids, lo, hi);
      if (m == k || m + 1 == k) {
        return;
      } else if (m > k) {
        hi = m;
      } else {
        lo = m + 1;
      }
    }
    insertionSort(p, ids, lo, hi);
  }

  /**
   * Partitions {@code ids[lo .. hi)} around a pivot (the median of its first, middle and last):
   * better ranked before it, worse after; returns where the pivot ends.
   */
  private static int partition(double[] p, int[] ids, int lo, int hi) {
    int mid = (lo + hi) >>> 1;
    int last = hi - 1;
    if (better(p, ids[mid], ids[lo])) {
      swap(ids, mid, lo);
    }
    if (better(p, ids[last], ids[lo])) {
      swap(ids, last, lo);
    }
    if (better(p, ids[last], ids[mid])) {
      swap(ids, last, mid);
    }
    swap(ids, mid, last); // the median waits at the end
    int pivot = ids[last];
    int store = lo;
    for (int i = lo; i < last; i++) {
      if (better(p, ids[i], pivot)) {
        swap(ids, i, store++);
      }
    }
    swap(ids, store, last);
    return store;
  }

  private static void insertionSort(double[] p, int[] ids, int lo, int hi) {
    for (int i = lo + 1; i < hi; i++) {
      int id = ids[i];
      int j = i - 1;
      while (j >= lo && better(p, id, ids[j])) {
        ids[j + 1] = ids[j];
        j--;
      }
      ids[j + 1] = id;
    }
  }

  /** Whether token {@code a} ranks above token {@code b}: more likely, or as likely and lower. */
  private static boolean better(double[] p, int a, int b) {
    return p[a] > p[b] || (p[a] == p[b] && a < b);
  }

  private static void swap(int[] a, int i, int j) {
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
