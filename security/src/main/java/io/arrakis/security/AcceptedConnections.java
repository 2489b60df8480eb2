package io.arrakis.security;

import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.Channel;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandler;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandlerContext;
import io.grpc.netty.shaded.io.netty.channel.ChannelInboundHandlerAdapter;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.IoHandlerFactory;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.ServerChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connections a gRPC server holds at once, at most {@code max}: one accepted past that is
 * closed at once, before a byte of it is read, so that clients opening connections faster than the
 * idle timeout closes them cannot use up the process's file descriptors (and with them its files,
 * its own connections and its other ports). grpc-java has no such bound; this one sits in the
 * server socket's pipeline, ahead of Netty's acceptor, which needs a channel factory of our own and
 * with it event loops of our own (grpc-java requires the three together), closed by {@link #close}
 * once the server has terminated.
 */
public final class AcceptedConnections implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AcceptedConnections.class);
  // a refusal is logged at most this often: a flood must not flood the log as well
  private static final long LOG_EVERY_NANOS = TimeUnit.SECONDS.toNanos(10);

  /** No bound, nothing to close: an in-process server, or a cap of 0. */
  static final AcceptedConnections UNBOUNDED = new AcceptedConnections(0, null, null, "");

  private final int max;
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final String prefix;
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicLong refused = new AtomicLong();
  private final AtomicLong lastLogged = new AtomicLong(System.nanoTime() - LOG_EVERY_NANOS);

  private AcceptedConnections(int max, EventLoopGroup boss, EventLoopGroup workers, String prefix) {
    this.max = max;
    this.boss = boss;
    this.workers = workers;
    this.prefix = prefix;
  }

  /**
   * Caps {@code builder}'s connections at {@code max}, on epoll where Netty has it (as grpc-java
   * would choose), else NIO.
   *
   * @param prefix the configuration path of the key, for the log
   */
  static AcceptedConnections cap(NettyServerBuilder builder, int max, String prefix) {
    boolean epoll = Epoll.isAvailable();
    Supplier<IoHandlerFactory> io = epoll ? EpollIoHandler::newFactory : NioIoHandler::newFactory;
    EventLoopGroup boss =
        new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("grpc-accept", true), io.get());
    // 0: Netty's default, two per core, as grpc-java's own workers
    EventLoopGroup workers =
        new MultiThreadIoEventLoopGroup(0, new DefaultThreadFactory("grpc-io", true), io.get());
    AcceptedConnections c = new AcceptedConnections(max, boss, workers, prefix);
    Gate gate = c.new Gate();
    builder
        .bossEventLoopGroup(boss)
        .workerEventLoopGroup(workers)
        .channelFactory(
            () -> {
              ServerChannel ch =
                  epoll ? new EpollServerSocketChannel() : new NioServerSocketChannel();
              // first in the pipeline: Netty's acceptor is added behind it when the server binds
              ch.pipeline().addLast(gate);
              return ch;
            });
    return c;
  }

  /** Connections open now. */
  public int open() {
    return open.get();
  }

  /** Connections closed on arrival because {@code max} were open. */
  public long refused() {
    return refused.get();
  }

  /**
   * Publishes the count as {@code METRICPREFIX_grpc_connections} (open now) and {@code
   * METRICPREFIX_grpc_connections_refused} (closed on arrival), where connections are counted (a
   * cap is set on a network server).
   *
   * @param metricPrefix e.g. {@code arrakis_router}
   */
  public void meter(MeterRegistry registry, String metricPrefix) {
    if (boss == null) {
      return;
    }
    Gauge.builder(metricPrefix + "_grpc_connections", this, AcceptedConnections::open)
        .description("gRPC connections open (at most max-connections)")
        .register(registry);
    FunctionCounter.builder(
            metricPrefix + "_grpc_connections_refused", this, AcceptedConnections::refused)
        .description("gRPC connections closed on arrival because max-connections were open")
        .register(registry);
  }

  /** Whether the event loops have stopped (after {@link #close}; always, when there are none). */
  public boolean closed() {
    return boss == null || (boss.isTerminated() && workers.isTerminated());
  }

  /** Stops the event loops; call once the server has terminated. */
  @Override
  public void close() {
    if (boss == null) {
      return;
    }
    boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    boss.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
    workers.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
  }

  /** Sees each accepted connection before Netty's acceptor registers it. */
  @ChannelHandler.Sharable
  private final class Gate extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      Channel child = (Channel) msg;
      if (open.incrementAndGet() > max) {
        open.decrementAndGet();
        refused.incrementAndGet();
        // not yet registered with an event loop: closing forcibly releases its socket at once
        child.unsafe().closeForcibly();
        logRefusal();
        return;
      }
      child.closeFuture().addListener(f -> open.decrementAndGet());
      ctx.fireChannelRead(msg);
    }

    private void logRefusal() {
      long now = System.nanoTime();
      long last = lastLogged.get();
      if (now - last >= LOG_EVERY_NANOS && lastLogged.compareAndSet(last, now)) {
        log.warn(
            "{} connections open, the most allowed ({}.max-connections): closing new ones as they "
                + "arrive ({} so far)",
            max,
            prefix,
            refused.get());
      }
    }
  }
}
