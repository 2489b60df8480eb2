package io.arrakis.engine.generate;

import io.arrakis.engine.Engine;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.StepResult;
import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * In-process generation on an {@link Engine}: prompt ids in, tokens out (streamed to a listener),
 * prefill in chunks of at most {@code prefillChunk} tokens, then one decode step per token; several
 * prompts decode together in one batch. What {@code model run}, {@code model score} and the bench
 * build on; the cluster's scheduler drives the engine itself.
 */
public final class Generator {
  private final Engine engine;
  private final int prefillChunk;
  private long nextSeq = 1L << 40;

  /** {@code prefillChunk} tokens per prefill step (0: the whole prompt at once). */
  public Generator(Engine engine, int prefillChunk) {
    this.engine = engine;
    this.prefillChunk = prefillChunk;
  }

  /** Generates from one prompt. */
  public Generation generate(int[] prompt, SamplingParams params, TokenListener listener) {
    return generateAll(List.of(prompt), params, List.of(listener)).get(0);
  }

  /**
   * Generates from several prompts: each is prefilled (the batch's prompts together, chunk by
   * chunk), then all decode in one batch per step until each has stopped. Every sequence draws from
   * its own sampler, so a seed repeats whatever the batch.
   */
  public List<Generation> generateAll(
      List<int[]> prompts, SamplingParams params, List<TokenListener> listeners) {
    int n = prompts.size();
    long[] seqs = new long[n];
    Sampler[] samplers = new Sampler[n];
    List<List<Integer>> out = new ArrayList<>();
    FinishReason[] reasons = new FinishReason[n];
    long[] firstAt = new long[n];
    long[] lastAt = new long[n];
    int vocab = engine.config().vocabSize();
    long start = System.nanoTime();
    for (int i = 0; i < n; i++) {
      if (prompts.get(i).length == 0) {
        throw new IllegalArgumentException("prompt " + i + " is empty");
      }
      seqs[i] = nextSeq++;
      samplers[i] = new Sampler(params, prompts.get(i));
      out.add(new ArrayList<>());
    }
    try {
      int[] done = new int[n];
      float[][] last = new float[n][];
      while (true) {
        List<SequenceChunk> chunks = new ArrayList<>();
        List<Integer> who = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          int[] p = prompts.get(i);
          if (done[i] < p.length) {
            int len =
                prefillChunk > 0 ? Math.min(prefillChunk, p.length - done[i]) : p.length - done[i];
            chunks.add(SequenceChunk.of(seqs[i], Arrays.copyOfRange(p, done[i], done[i] + len)));
            who.add(i);
            done[i] += len;
          }
        }
        if (chunks.isEmpty()) {
          break;
        }
        StepResult r = engine.step(chunks);
        for (int c = 0; c < chunks.size(); c++) {
          last[who.get(c)] = r.logits(c);
        }
      }
      boolean[] active = new boolean[n];
      int running = 0;
      for (int i = 0; i < n; i++) {
        active[i] =
            accept(i, samplers[i].next(last[i], 0, vocab), params, listeners.get(i), out, reasons);
        firstAt[i] = lastAt[i] = System.nanoTime();
        running += active[i] ? 1 : 0;
      }
      while (running > 0) {
        List<SequenceChunk> chunks = new ArrayList<>();
        List<Integer> who = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          if (active[i]) {
            List<Integer> t = out.get(i);
            chunks.add(SequenceChunk.of(seqs[i], t.get(t.size() - 1)));
            who.add(i);
          }
        }
        StepResult r = engine.step(chunks);
        long now = System.nanoTime();
        for (int c = 0; c < chunks.size(); c++) {
          int i = who.get(c);
          active[i] =
              accept(
                  i,
                  samplers[i].next(r.logits(c), 0, vocab),
                  params,
                  listeners.get(i),
                  out,
                  reasons);
          lastAt[i] = now;
          running -= active[i] ? 0 : 1;
        }
      }
    } finally {
      for (long s : seqs) {
        engine.release(s);
      }
    }
    List<Generation> result = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] tokens = out.get(i).stream().mapToInt(Integer::intValue).toArray();
      result.add(
          new Generation(
              prompts.get(i).length,
              tokens,
              reasons[i],
              firstAt[i] - start,
              lastAt[i] - firstAt[i]));
    }
    return result;
  }

  private static boolean accept(
      int i,
      int token,
      SamplingParams params,
      TokenListener listener,
      List<List<Integer>> out,
      FinishReason[] reasons) {
    out.get(i).add(token);
    Optional<FinishReason> verdict = listener.onToken(token);
    if (params.stopsAt(token)) {
      reasons[i] = FinishReason.STOP;
      return false;
    }
    if (verdict.isPresent()) {
      reasons[i] = verdict.get();
      return false;
    }
    if (out.get(i).size() >= params.maxTokens()) {
      reasons[i] = FinishReason.LENGTH;
      return false;
    }
    return true;
  }
}
