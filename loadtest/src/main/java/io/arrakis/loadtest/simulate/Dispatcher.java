package io.arrakis.loadtest.simulate;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A router's {@code NodeDispatcher} for one node: a slice goes out at once while fewer than
 * max-in-flight calls are out; otherwise slices wait and go out merged (up to max-batch-tokens, a
 * single larger slice alone) when a call returns.
 */
final class Dispatcher {
  /**
   * Makes a Compute call of {@code batch} ({@code rows} rows); it must call {@link #ended} when
   * answered.
   */
  interface Calls {
    void call(Dispatcher from, List<Slice> batch, int rows);
  }

  final int router;
  final int node;
  private final SimConfig.Dispatch limits;
  private final Calls calls;
  private final ArrayDeque<Slice> pending = new ArrayDeque<>();
  private final Meter slots;
  private int inFlight;

  Dispatcher(EventLoop loop, int router, int node, SimConfig.Dispatch limits, Calls calls) {
    this.router = router;
    this.node = node;
    this.limits = limits;
    this.calls = calls;
    this.slots = new Meter(loop);
  }

  /** Calls in flight averaged since the last reset, as a fraction of max-in-flight. */
  double slotUtilisation() {
    return slots.mean() / limits.maxInFlight();
  }

  void resetMeter() {
    slots.reset();
  }

  void submit(Slice s) {
    pending.add(s);
    sendWhatFits();
  }

  void ended() {
    inFlight--;
    slots.set(inFlight);
    sendWhatFits();
  }

  private void sendWhatFits() {
    while (inFlight < limits.maxInFlight() && !pending.isEmpty()) {
      List<Slice> batch = new ArrayList<>();
      int rows = 0;
      while (!pending.isEmpty()) {
        Slice next = pending.peek();
        if (!batch.isEmpty() && rows + next.rows > limits.maxBatchTokens()) {
          break;
        }
        batch.add(pending.poll());
        rows += next.rows;
      }
      inFlight++;
      slots.set(inFlight);
      calls.call(this, batch, rows);
    }
  }
}
