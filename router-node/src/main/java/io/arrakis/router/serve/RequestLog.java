package io.arrakis.router.serve;

import io.arrakis.engine.generate.FinishReason;
import io.grpc.Status;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One line per request as it ends, on the logger {@code io.arrakis.router.serve.requests} (so that
 * it can be routed or silenced on its own): how it ended, its tokens and its latencies.
 */
final class RequestLog {
  private static final Logger requests =
      LoggerFactory.getLogger("io.arrakis.router.serve.requests");

  private RequestLog() {}

  static void finished(Sequence s, FinishReason reason) {
    long now = System.nanoTime();
    requests.info(
        "request {} finished: {}, prompt {} tokens, completion {} tokens, first token {} ms, total {} ms, "
            + "preempted {} times",
        s.request.requestId(),
        reason.wire(),
        s.promptLength(),
        s.generated(),
        s.firstTokenNanos == 0
            ? "-"
            : String.format(
                Locale.ROOT, "%.1f", (s.firstTokenNanos - s.request.arrivalNanos()) / 1e6),
        String.format(Locale.ROOT, "%.1f", (now - s.request.arrivalNanos()) / 1e6),
        s.preemptions);
  }

  static void failed(Sequence s, Status status) {
    requests.info(
        "request {} failed: {} {}, prompt {} tokens, completion {} tokens",
        s.request.requestId(),
        status.getCode(),
        status.getDescription(),
        s.promptLength(),
        s.generated());
  }
}
