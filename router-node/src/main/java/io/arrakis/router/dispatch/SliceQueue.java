package io.arrakis.router.dispatch;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.DType;
import io.arrakis.router.plan.NodeSlice;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The slices a {@link NodeDispatcher} serves, free of actors: those waiting, in order, and the
 * batches they go out in. A slice (a {@link Job}) leaves the queue row by row, in parts of at most
 * what one call to the node carries, and is answered once all its parts are; a requester's slices
 * can be taken out at any time.
 */
final class SliceQueue {
  /** A slice being served: taken row by row, answered once. */
  static final class Job {
    final NodeDispatcher.Submit submit;
    private int taken;
    private int partsOut;
    private boolean closed;
    private byte[] sums;
    private ByteString whole;

    Job(NodeDispatcher.Submit submit) {
      this.submit = submit;
    }

    NodeSlice slice() {
      return submit.slice();
    }

    int left() {
      return slice().size() - taken;
    }

    boolean closed() {
      return closed;
    }

    /**
     * Takes one part's partial sums (FLOAT32).
     *
     * @return the slice's partial sums once every part has answered, else null
     */
    ByteString answered(SlicePart part, ByteString partial, int hidden) {
      partsOut--;
      if (part.whole()) {
        whole = partial;
      } else {
        if (sums == null) {
          sums = new byte[slice().size() * hidden * Float.BYTES];
        }
        partial.copyTo(sums, part.from() * hidden * Float.BYTES);
      }
      if (left() > 0 || partsOut > 0) {
        return null;
      }
      return whole != null ? whole : UnsafeByteOperations.unsafeWrap(sums);
    }
  }

  /** One call's worth: the parts, the job of each, the dtype the rows travel in. */
  record Batch(List<SlicePart> parts, List<Job> jobs, DType dtype) {}

  private final ArrayDeque<Job> pending = new ArrayDeque<>();
  private final Map<ActorRef<NodeDispatcher.SliceReply>, List<Job>> byRequester = new HashMap<>();
  private final int hidden;
  private int tokens;

  SliceQueue(int hidden) {
    this.hidden = hidden;
  }

  /** Tokens waiting. */
  int tokens() {
    return tokens;
  }

  /** Slices waiting (in whole or in part). */
  int slices() {
    return pending.size();
  }

  boolean isEmpty() {
    return pending.isEmpty();
  }

  List<Job> waiting() {
    return List.copyOf(pending);
  }

  Job add(NodeDispatcher.Submit s) {
    Job job = new Job(s);
    byRequester.computeIfAbsent(s.replyTo(), r -> new ArrayList<>(2)).add(job);
    pending.add(job);
    tokens += s.slice().size();
    return job;
  }

  /** Closes and returns every open slice of {@code requester}. */
  List<Job> remove(ActorRef<NodeDispatcher.SliceReply> requester) {
    List<Job> jobs = List.copyOf(byRequester.getOrDefault(requester, List.of()));
    jobs.forEach(this::close);
    return jobs;
  }

  /** The job is answered or given up: out of the queue, no longer its requester's. */
  void close(Job job) {
    if (job.closed) {
      return;
    }
    if (job.left() > 0 && pending.remove(job)) {
      tokens -= job.left();
    }
    job.closed = true;
    List<Job> mine = byRequester.get(job.submit.replyTo());
    if (mine != null && mine.remove(job) && mine.isEmpty()) {
      byRequester.remove(job.submit.replyTo());
    }
  }

  /**
   * The oldest waiting slices that fit one call: as many rows and bytes as the node takes, of one
   * wire dtype. A slice too large for any one call goes in parts, one call after another; one that
   * fits a call of its own waits for the next rather than be cut.
   *
   * @param failed told of slices that cannot go: past their deadline, or not even one row fits the
   *     node
   */
  Batch take(NodeCapacity capacity, long nowNanos, String nodeId, BiConsumer<Job, Status> failed) {
    List<SlicePart> parts = new ArrayList<>();
    List<Job> jobs = new ArrayList<>();
    int batchTokens = 0;
    long bytes = NodeCapacity.CALL_BYTES;
    DType dtype = null;
    while (!pending.isEmpty()) {
      Job job = pending.peek();
      if (job.submit.deadlineNanos() - nowNanos <= 0) {
        failed.accept(
            job,
            Status.DEADLINE_EXCEEDED.withDescription(
                "deadline passed while waiting for expert node " + nodeId));
        continue; // the caller closed it
      }
      DType wire = capacity.wireDtype(job.slice().dtype());
      if (dtype != null && wire != dtype) {
        break;
      }
      long rowBytes = (long) hidden * TensorCodec.elementSize(wire);
      int[] pairs = pairsPerRow(job.slice());
      int from = job.taken;
      int to = from;
      long partBytes = (long) job.slice().experts().size() * NodeCapacity.ASSIGNMENT_BYTES;
      while (to < job.slice().size() && batchTokens + (to - from) < capacity.maxTokens()) {
        long next = rowBytes + (long) pairs[to] * NodeCapacity.PAIR_BYTES;
        if (bytes + partBytes + next > capacity.maxBytes()) {
          break;
        }
        partBytes += next;
        to++;
      }
      if (to == from && parts.isEmpty()) {
        failed.accept(
            job,
            Status.UNAVAILABLE.withDescription(
                "expert node "
                    + nodeId
                    + " accepts "
                    + capacity.maxBytes()
                    + " bytes per call, less than one token of this request needs"));
        continue;
      }
      if (to < job.slice().size() && !parts.isEmpty()) {
        break;
      }
      dtype = wire;
      parts.add(new SlicePart(job.slice(), from, to));
      jobs.add(job);
      job.taken = to;
      job.partsOut++;
      tokens -= to - from;
      batchTokens += to - from;
      bytes += partBytes;
      if (job.left() > 0) {
        break; // the call is full
      }
      pending.poll();
    }
    return new Batch(parts, jobs, dtype);
  }

  private static int[] pairsPerRow(NodeSlice slice) {
    int[] pairs = new int[slice.size()];
    for (NodeSlice.ExpertRows e : slice.experts()) {
      for (int r : e.rows()) {
        pairs[r]++;
      }
    }
    return pairs;
  }
}
