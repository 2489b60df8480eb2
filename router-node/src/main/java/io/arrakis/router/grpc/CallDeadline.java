package io.arrakis.router.grpc;

import io.grpc.Context;
import io.grpc.Deadline;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** How long the current call may run: the client's deadline cut to a maximum, or a default. */
record CallDeadline(Duration defaultDeadline, Duration maxDeadline) {

  /** Nanoseconds until the current call's deadline: the client's, cut to max, or the default. */
  long remainingNanos() {
    Deadline deadline = Context.current().getDeadline();
    long max = maxDeadline.toNanos();
    return deadline == null
        ? Math.min(defaultDeadline.toNanos(), max)
        : Math.min(deadline.timeRemaining(TimeUnit.NANOSECONDS), max);
  }
}
