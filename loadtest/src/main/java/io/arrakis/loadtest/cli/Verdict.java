package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.load.LoadResult;

/** Whether a load run went as it must: every call answered, and some answered OK. */
final class Verdict {
  private Verdict() {}

  /** 0, or throws with the reason (the report has been printed already). */
  static int check(LoadResult r) {
    if (r.unanswered() > 0) {
      throw new IllegalStateException(
          r.unanswered() + " of " + r.sent() + " calls got no answer by the end of the run");
    }
    if (r.ok() == 0) {
      throw new IllegalStateException(
          "no call succeeded (" + r.failed() + " failed: " + r.byStatus() + ")");
    }
    return 0;
  }
}
