package io.arrakis.router.serve;

import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.kv.BlockManager;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;
import java.util.function.LongConsumer;

/**
 * Continuous batching as vLLM does it, per micro-batch lane: a step takes one token of every
 * decoding sequence of its lane first, then chunks of prompts within the token budget, then admits
 * waiting sequences (oldest first) while their prompt's KV-cache blocks fit. KV blocks are the
 * currency: when a step cannot get the blocks it needs, the newest running sequence not in a step
 * in flight is preempted (its blocks freed, recomputed when re-admitted), and when none is left the
 * newest chunks wait. Sequences are dealt to lanes so that the lanes stay even: each lane's steps
 * alternate with the others' on the expert nodes. A prompt whose log-probabilities were asked for
 * needs the logits of every position it computes, a vocabulary's worth each: at most one such chunk
 * runs in a step, of at most {@code maxLogitRows} tokens. With prefix caching, a sequence admitted
 * takes the cached blocks its tokens begin with and computes only the rest (never its last token,
 * whose logits it needs; never when it scores its prompt, which needs every position's). Owned by
 * the scheduler's thread.
 */
final class BatchPlanner {
  private static final Comparator<Sequence> BY_ARRIVAL = Comparator.comparingLong(s -> s.arrival);

  /** A step: {@code chunks.get(i)} is {@code members.get(i)}'s new tokens. */
  record Plan(List<Sequence> members, List<SequenceChunk> chunks, List<Sequence> preempted) {
    int tokens() {
      return chunks.stream().mapToInt(c -> c.tokens().length).sum();
    }
  }

  private final BlockManager blocks;
  private final int maxStepTokens;
  private final int maxRunning;
  private final int maxLogitRows;
  private final boolean prefixCaching;
  private final LongConsumer release;
  private final PrefixCacheMeter meter;
  private final TreeSet<Sequence> waiting = new TreeSet<>(BY_ARRIVAL);
  private final List<TreeSet<Sequence>> lanes = new ArrayList<>();
  private int running;

  /** Counts the tokens admitted sequences looked up in the prefix cache, and those found. */
  interface PrefixCacheMeter {
    void looked(int tokens, int found);
  }

  /**
   * How big a step may get.
   *
   * @param lanes micro-batch lanes
   * @param maxStepTokens tokens in one step
   * @param maxRunning sequences holding blocks at once
   * @param maxLogitRows the most positions one step returns all logits of (prompt
   *     log-probabilities)
   * @param prefixCaching admitted sequences reuse cached blocks
   */
  record Limits(
      int lanes, int maxStepTokens, int maxRunning, int maxLogitRows, boolean prefixCaching) {}

  /**
   * @param release frees a sequence's KV-cache blocks (the engine's release)
   */
  BatchPlanner(BlockManager blocks, Limits limits, LongConsumer release, PrefixCacheMeter meter) {
    this.blocks = blocks;
    this.maxStepTokens = limits.maxStepTokens();
    this.maxRunning = limits.maxRunning();
    this.maxLogitRows = limits.maxLogitRows();
    this.prefixCaching = limits.prefixCaching();
    this.release = release;
    this.meter = meter;
    for (int i = 0; i < limits.lanes(); i++) {
      this.lanes.add(new TreeSet<>(BY_ARRIVAL));
    }
  }

  void add(Sequence s) {
    waiting.add(s);
  }

  /** Forgets a sequence (ended); the caller frees its blocks once no step holds it. */
  void remove(Sequence s) {
    if (s.lane >= 0) {
      if (lanes.get(s.lane).remove(s)) {
        running--;
      }
      s.lane = -1;
    } else {
      waiting.remove(s);
    }
  }

  int waiting() {
    return waiting.size();
  }

  int running() {
    return running;
  }

  /** Waiting sequences that were preempted (they will be recomputed). */
  int preemptedWaiting() {
    return (int) waiting.stream().filter(s -> s.preemptions > 0).count();
  }

  /** The next step of {@code lane} (empty when it has nothing to do, or nothing fits yet). */
  Plan plan(int lane) {
    List<Sequence> members = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    List<Sequence> preempted = new ArrayList<>();
    int budget = maxStepTokens;
    for (Sequence s : lanes.get(lane)) { // decoding sequences first: one token each
      if (!s.inFlight && s.pending() == 1 && budget > 0) {
        members.add(s);
        counts.add(1);
        budget--;
      }
    }
    boolean scoring = false; // a chunk returning every position's logits is in the step
    for (Sequence s : lanes.get(lane)) { // then prompts, chunked to the budget
      if (!s.inFlight && s.pending() > 1 && budget > 0 && !(scoring && s.scoresPrompt())) {
        int n = Math.min(s.pending(), budget);
        if (s.scoresPrompt()) {
          n = Math.min(n, maxLogitRows);
          scoring = true;
        }
        members.add(s);
        counts.add(n);
        budget -= n;
      }
    }
    int needed = blocksNeeded(members, counts);
    while (needed > blocks.freeBlocks() && !members.isEmpty()) {
      Sequence victim = newestIdle();
      if (victim != null) {
        int at = members.indexOf(victim);
        if (at >= 0) {
          members.remove(at);
          budget += counts.remove(at);
        }
        preempt(victim);
        preempted.add(victim);
      } else { // everything else is in a step in flight: the newest chunk waits for the next step
        members.remove(members.size() - 1);
        budget += counts.remove(counts.size() - 1);
      }
      needed = blocksNeeded(members, counts);
    }
    if (preempted.isEmpty()) {
      needed =
          admit(
              lane,
              members,
              counts,
              budget,
              needed,
              members.stream().anyMatch(Sequence::scoresPrompt));
    }
    List<SequenceChunk> chunks = new ArrayList<>();
    for (int i = 0; i < members.size(); i++) {
      Sequence s = members.get(i);
      chunks.add(new SequenceChunk(s.id, s.next(counts.get(i)), s.scoresPrompt()));
    }
    return new Plan(members, chunks, preempted);
  }

  /**
   * Admits waiting sequences, oldest first, into {@code lane} while it is no fuller than the others
   * and blocks fit ({@code scoring}: a chunk returning every position's logits is in the step
   * already, so one that would too waits).
   */
  private int admit(
      int lane,
      List<Sequence> members,
      List<Integer> counts,
      int budget,
      int needed,
      boolean scoring) {
    while (budget > 0 && !waiting.isEmpty() && running < maxRunning && evenEnough(lane)) {
      Sequence s = waiting.first();
      if (scoring && s.scoresPrompt()) {
        break;
      }
      int reused = reusePrefix(s);
      // the whole prompt's blocks must be free: a prompt admitted half-way would only be preempted
      // again
      int all = blocks.blocksNeeded(s.id, s.pending());
      if (needed + all > blocks.freeBlocks()) {
        if (blocks.contains(s.id)) { // the reused blocks (or its salt) wait with it
          release.accept(s.id);
          s.computed = 0;
        }
        break;
      }
      if (prefixCaching && !s.scoresPrompt()) {
        meter.looked(s.length(), reused);
        if (s.preemptions == 0) {
          s.cachedPromptTokens = reused;
        }
      }
      int n = Math.min(s.pending(), budget);
      if (s.scoresPrompt()) {
        n = Math.min(n, maxLogitRows);
        scoring = true;
      }
      waiting.pollFirst();
      s.lane = lane;
      lanes.get(lane).add(s);
      running++;
      members.add(s);
      counts.add(n);
      budget -= n;
      needed += blocks.blocksNeeded(s.id, n);
    }
    return needed;
  }

  /**
   * Starts a sequence that has no cache yet on the cached blocks its tokens begin with (of its
   * salt); returns the tokens they hold. A prompt that is scored is computed whole, its blocks
   * still named with its salt.
   */
  private int reusePrefix(Sequence s) {
    if (!prefixCaching || s.computed > 0) {
      return 0;
    }
    int limit = s.scoresPrompt() ? 0 : s.length() - 1;
    s.computed = blocks.reusePrefix(s.id, s.tokensSoFar(), limit, s.request.cacheSalt());
    return s.computed;
  }

  private boolean evenEnough(int lane) {
    int mine = lanes.get(lane).size();
    for (int i = 0; i < lanes.size(); i++) {
      if (i != lane && lanes.get(i).size() < mine) {
        return false;
      }
    }
    return true;
  }

  private int blocksNeeded(List<Sequence> members, List<Integer> counts) {
    int n = 0;
    for (int i = 0; i < members.size(); i++) {
      n += blocks.blocksNeeded(members.get(i).id, counts.get(i));
    }
    return n;
  }

  /** The newest running sequence of any lane that no step in flight holds. */
  private Sequence newestIdle() {
    Sequence newest = null;
    for (TreeSet<Sequence> l : lanes) {
      for (Sequence s : l.descendingSet()) {
        if (!s.inFlight) {
          if (newest == null || s.arrival > newest.arrival) {
            newest = s;
          }
          break;
        }
      }
    }
    return newest;
  }

  private void preempt(Sequence s) {
    lanes.get(s.lane).remove(s);
    running--;
    release.accept(s.id);
    s.preempted();
    waiting.add(s);
  }
}
