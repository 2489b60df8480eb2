package io.arrakis.security;

import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * What one HTTP/2 connection to a server may cost beyond its calls: how fast it may reset streams
 * and how long it may stay open without a call. grpc-java bounds neither by default.
 *
 * <p>A client that opens a call and resets it at once, over and over (HTTP/2's "rapid reset",
 * CVE-2023-44487), costs the server each call's headers, start and cancellation while never holding
 * more than a few streams open, so no limit on concurrent calls or arriving requests stops it: past
 * {@code maxResets} RST_STREAM frames (received or sent) on a connection within {@code resetWindow}
 * the server closes the connection with GOAWAY ENHANCE_YOUR_CALM.
 *
 * <p>A connection that carries no call, whether its client has gone without closing it or never
 * sent a byte, would hold a socket and its HTTP/2 state for ever: after {@code idleTimeout} without
 * a call the server sends GOAWAY and closes it (at once for a client that answers, after
 * grpc-java's 10 s ping timeout for one that does not). Clients that make calls reconnect on their
 * own.
 *
 * <p>Connections opened faster than that timeout closes them would still use up the process's file
 * descriptors: past {@code maxConnections} open at once, a new one is closed as soon as it is
 * accepted ({@link AcceptedConnections}).
 *
 * @param maxResets RST_STREAM frames a connection may carry within a window ({@code
 *     max-stream-resets}); 0 leaves them unbounded
 * @param resetWindow the window, in whole seconds ({@code stream-reset-window})
 * @param idleTimeout how long a connection may stay without a call ({@code
 *     connection-idle-timeout}); zero leaves it open
 * @param maxConnections connections open at once ({@code max-connections}); 0 leaves them unbounded
 * @param prefix the configuration path of the keys, for messages (e.g. {@code arrakis.router})
 */
public record ConnectionLimits(
    int maxResets, Duration resetWindow, Duration idleTimeout, int maxConnections, String prefix) {
  public ConnectionLimits {
    if (maxConnections < 0) {
      throw new IllegalArgumentException(
          prefix + ".max-connections must not be negative (0: unbounded), got " + maxConnections);
    }
    if (maxResets < 0) {
      throw new IllegalArgumentException(
          prefix + ".max-stream-resets must not be negative (0: unbounded), got " + maxResets);
    }
    if (resetWindow.toMillis() % 1000 != 0
        || resetWindow.toSeconds() < 1
        || resetWindow.compareTo(Duration.ofDays(1)) > 0) {
      throw new IllegalArgumentException(
          prefix + ".stream-reset-window must be whole seconds, 1 s to 1 day, got " + resetWindow);
    }
    if (idleTimeout.isNegative() || idleTimeout.compareTo(Duration.ofDays(1)) > 0) {
      throw new IllegalArgumentException(
          prefix + ".connection-idle-timeout must be 0 (off) to 1 day, got " + idleTimeout);
    }
  }

  /** The limits without a bound on connections open at once. */
  public ConnectionLimits(
      int maxResets, Duration resetWindow, Duration idleTimeout, String prefix) {
    this(maxResets, resetWindow, idleTimeout, 0, prefix);
  }

  /**
   * Applies the limits to {@code builder}'s connections. A transport without HTTP/2 (in-process)
   * has no connections to bound and is left as it is.
   *
   * @return the connections' count and event loops, to close once the server has terminated
   */
  public AcceptedConnections applyTo(ServerBuilder<?> builder) {
    if (!(builder instanceof NettyServerBuilder netty)) {
      return AcceptedConnections.UNBOUNDED;
    }
    if (maxResets > 0) {
      netty.maxRstFramesPerWindow(maxResets, (int) resetWindow.toSeconds());
    }
    if (!idleTimeout.isZero()) {
      netty.maxConnectionIdle(idleTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }
    return maxConnections > 0
        ? AcceptedConnections.cap(netty, maxConnections, prefix)
        : AcceptedConnections.UNBOUNDED;
  }
}
