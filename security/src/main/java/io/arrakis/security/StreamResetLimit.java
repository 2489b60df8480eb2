package io.arrakis.security;

import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.time.Duration;

/**
 * Bounds how fast one connection may reset streams. A client that opens a call and resets it at
 * once, over and over (HTTP/2's "rapid reset", CVE-2023-44487), costs the server each call's
 * headers, start and cancellation while never holding more than a few streams open, so no limit on
 * concurrent calls or arriving requests stops it. Past {@code maxResets} RST_STREAM frames
 * (received or sent) on a connection within {@code window}, the server closes the connection with
 * GOAWAY ENHANCE_YOUR_CALM. grpc-java leaves this unbounded by default.
 *
 * @param maxResets RST_STREAM frames a connection may carry within a window ({@code
 *     max-stream-resets}); 0 leaves them unbounded
 * @param window the window, in whole seconds ({@code stream-reset-window})
 * @param prefix the configuration path of the keys, for messages (e.g. {@code arrakis.router})
 */
public record StreamResetLimit(int maxResets, Duration window, String prefix) {
  public StreamResetLimit {
    if (maxResets < 0) {
      throw new IllegalArgumentException(
          prefix + ".max-stream-resets must not be negative (0: unbounded), got " + maxResets);
    }
    if (window.toMillis() % 1000 != 0
        || window.toSeconds() < 1
        || window.compareTo(Duration.ofDays(1)) > 0) {
      throw new IllegalArgumentException(
          prefix + ".stream-reset-window must be whole seconds, 1 s to 1 day, got " + window);
    }
  }

  /**
   * Applies the limit to {@code builder}'s connections. A transport without HTTP/2 (in-process) has
   * no streams to reset and is left as it is.
   */
  public void applyTo(ServerBuilder<?> builder) {
    if (maxResets > 0 && builder instanceof NettyServerBuilder netty) {
      netty.maxRstFramesPerWindow(maxResets, (int) window.toSeconds());
    }
  }
}
