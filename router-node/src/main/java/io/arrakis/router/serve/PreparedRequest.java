package io.arrakis.router.serve;

import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.model.tokenizer.StopStrings;

/**
 * A request checked and tokenized, ready for the scheduler.
 *
 * @param prompt the prompt's token ids (after the chat template), never empty, shorter than the
 *     context
 * @param params sampling and stopping; max tokens cut to what the context leaves after the prompt
 * @param stops stop strings, matched in the streamed text
 * @param arrivalNanos when the request arrived (System.nanoTime), for time to first token
 * @param promptLogprobs -1: none; else the log-probabilities of the prompt's tokens after the first
 *     are computed, each with those of this many most likely tokens
 * @param cacheSalt the prefix cache's salt (null: none), see {@link GenerationRequest#cacheSalt}
 */
record PreparedRequest(
    String requestId,
    int[] prompt,
    SamplingParams params,
    StopStrings stops,
    long deadlineNanos,
    long arrivalNanos,
    int promptLogprobs,
    String cacheSalt) {}
