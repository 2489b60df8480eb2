package io.arrakis.router.kubernetes;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Starting an informer with a bounded wait for its first list, as the watchers here do. */
final class Informers {
  private Informers() {}

  /**
   * Starts {@code informer} and waits up to {@code timeout} for its first list; on failure stops it
   * and throws, naming what it was to do ({@code "watch configmap arrakis/placement"}), where and
   * why.
   *
   * @throws IllegalStateException when the list failed, timed out or the wait was interrupted
   */
  static void start(
      SharedIndexInformer<?> informer, KubernetesClient client, Duration timeout, String what) {
    try {
      informer.start().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException | TimeoutException e) {
      informer.stop();
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new IllegalStateException(
          "cannot " + what + " at " + client.getMasterUrl() + " within " + timeout + ": " + cause,
          cause);
    } catch (InterruptedException e) {
      informer.stop();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while trying to " + what, e);
    }
  }
}
