package io.arrakis.expert.compute;

import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed pool of compute threads with a bounded queue in front. When both are full, {@link
 * #execute} throws {@link RejectedExecutionException} at once rather than queueing without bound.
 */
public final class ComputeExecutor implements Executor, AutoCloseable {
  private final ThreadPoolExecutor pool;
  private final int threads;
  private final int queueCapacity;

  public ComputeExecutor(int threads, int queueCapacity) {
    this.threads = threads;
    this.queueCapacity = queueCapacity;
    AtomicInteger n = new AtomicInteger();
    ThreadFactory factory =
        r -> {
          Thread t = new Thread(r, "compute-" + n.getAndIncrement());
          t.setDaemon(true);
          return t;
        };
    this.pool =
        new ThreadPoolExecutor(
            threads,
            threads,
            0,
            TimeUnit.MILLISECONDS,
            queueCapacity == 0 ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(queueCapacity),
            factory,
            new ThreadPoolExecutor.AbortPolicy());
  }

  @Override
  public void execute(Runnable task) {
    pool.execute(task);
  }

  public int threads() {
    return threads;
  }

  public int queueCapacity() {
    return queueCapacity;
  }

  /** Batches waiting for a thread. */
  public int queued() {
    return pool.getQueue().size();
  }

  /** Batches being computed now. */
  public int active() {
    return pool.getActiveCount();
  }

  /** Finishes queued and running work within {@code grace}, then interrupts what is left. */
  public void shutdown(Duration grace) throws InterruptedException {
    pool.shutdown();
    if (!pool.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
      pool.shutdownNow();
      pool.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Override
  public void close() throws InterruptedException {
    shutdown(Duration.ofSeconds(5));
  }
}
