package io.arrakis.router.grpc;

import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.model.tokenizer.ChatMessage;
import io.arrakis.proto.v1.GenerateRequest;
import io.arrakis.proto.v1.GenerateResponse;
import io.arrakis.proto.v1.SamplingParams;
import io.arrakis.proto.v1.TokenLogprob;
import io.arrakis.proto.v1.Usage;
import io.arrakis.router.serve.GenerationHandle;
import io.arrakis.router.serve.GenerationListener;
import io.arrakis.router.serve.GenerationRequest;
import io.arrakis.router.serve.GenerationService;
import io.arrakis.router.serve.LateHandle;
import io.arrakis.router.serve.ServeSettings;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.OptionalLong;

/**
 * {@code Inference.Generate}: the proto request to a {@link GenerationRequest} (its deadline the
 * client's, cut to {@code serve.max-deadline}), the listener's calls to stream messages. A client
 * that cancels (or whose deadline passes) cancels the request, which frees its sequence at once,
 * and so does one that stops reading: past {@code serve.stream-buffer} messages waiting beyond what
 * gRPC's transport holds, its call ends RESOURCE_EXHAUSTED. A router serving a layer-only model
 * answers UNIMPLEMENTED.
 */
final class GenerateCalls {
  private final GenerationService service;
  private final CallDeadline callDeadline;
  private final int streamBuffer;

  /**
   * @param service null on a router serving a layer-only model
   */
  GenerateCalls(GenerationService service, ServeSettings settings) {
    this.service = service;
    this.callDeadline = new CallDeadline(settings.defaultDeadline(), settings.maxDeadline());
    this.streamBuffer = settings.streamBuffer();
  }

  void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
    long received = System.nanoTime();
    if (service == null) {
      out.onError(
          Status.UNIMPLEMENTED
              .withDescription(
                  "this router serves a layer-only model (Forward only); Generate "
                      + "needs a whole-model checkpoint")
              .asRuntimeException());
      return;
    }
    GenerationRequest.Prompt prompt;
    switch (request.getPromptCase()) {
      case TEXT -> prompt = new GenerationRequest.Prompt.Text(request.getText());
      case TOKEN_IDS ->
          prompt =
              new GenerationRequest.Prompt.TokenIds(
                  request.getTokenIds().getIdsList().stream()
                      .mapToInt(Integer::intValue)
                      .toArray());
      case CHAT ->
          prompt =
              new GenerationRequest.Prompt.Chat(
                  request.getChat().getMessagesList().stream()
                      .map(m -> new ChatMessage(m.getRole(), m.getContent()))
                      .toList());
      default -> {
        out.onError(
            Status.INVALID_ARGUMENT
                .withDescription("prompt: set one of text, token_ids or chat")
                .asRuntimeException());
        return;
      }
    }
    SamplingParams s = request.getSampling();
    GenerationRequest.Sampling sampling =
        new GenerationRequest.Sampling(
            Integer.toUnsignedLong(s.getMaxTokens()),
            s.getTemperature(),
            s.getTopP(),
            Integer.toUnsignedLong(s.getTopK()),
            s.hasSeed() ? OptionalLong.of(s.getSeed()) : OptionalLong.empty(),
            new GenerationRequest.Stops(
                s.getStopList(),
                s.getStopTokenIdsList(),
                s.getIgnoreEos(),
                Integer.toUnsignedLong(s.getMinTokens())),
            s.hasLogprobs() ? Integer.toUnsignedLong(s.getLogprobs()) : -1,
            s.hasPromptLogprobs() ? Integer.toUnsignedLong(s.getPromptLogprobs()) : -1,
            new GenerationRequest.Adjustments(
                s.getPresencePenalty(),
                s.getFrequencyPenalty(),
                s.getRepetitionPenalty() == 0 ? 1f : s.getRepetitionPenalty(), // 0: unset
                s.getLogitBiasMap()));
    long deadline = received + callDeadline.remainingNanos();
    ServerCallStreamObserver<GenerateResponse> call =
        (ServerCallStreamObserver<GenerateResponse>) out;
    // a client's cancellation, or its deadline: the request goes at once, its blocks freed
    LateHandle handle = new LateHandle();
    call.setOnCancelHandler(handle::cancel);
    handle.set(
        service.submit(
            new GenerationRequest(
                request.getRequestId(),
                prompt,
                sampling,
                request.getCacheSalt().isEmpty() ? null : request.getCacheSalt(),
                received,
                deadline),
            new Stream(call, request.getRequestId(), handle, streamBuffer)));
  }

  /**
   * The listener as stream messages; calls come one at a time (see {@link GenerationListener}).
   * Messages sent while the transport is not ready wait in it for the client: once more than {@code
   * buffer} do, the request is cancelled and the call ends.
   */
  private static final class Stream implements GenerationListener {
    private final ServerCallStreamObserver<GenerateResponse> call;
    private final String requestId;
    private final GenerationHandle handle;
    private final int buffer;
    private int waiting;
    private boolean ended;

    /** The prompt's log-probabilities, until the first response carries them. */
    private List<TokenLogprobs> promptLogprobs = List.of();

    Stream(
        ServerCallStreamObserver<GenerateResponse> call,
        String requestId,
        GenerationHandle handle,
        int buffer) {
      this.call = call;
      this.requestId = requestId;
      this.handle = handle;
      this.buffer = buffer;
    }

    @Override
    public synchronized void onTokens(int[] tokenIds, String text, List<TokenLogprobs> logprobs) {
      send(chunk(tokenIds, text, logprobs).build());
    }

    @Override
    public synchronized void onFinished(
        int[] tokenIds, String text, List<TokenLogprobs> logprobs, Finish finish) {
      GenerateResponse last =
          chunk(tokenIds, text, logprobs)
              .setFinishReason(finish.reason().wire())
              .setUsage(
                  Usage.newBuilder()
                      .setPromptTokens(finish.promptTokens())
                      .setCompletionTokens(finish.completionTokens())
                      .setCachedTokens(finish.cachedTokens()))
              .build();
      if (send(last)) {
        ended = true;
        call.onCompleted();
      }
    }

    @Override
    public synchronized void onPromptLogprobs(int[] promptIds, List<TokenLogprobs> logprobs) {
      promptLogprobs = logprobs;
    }

    @Override
    public synchronized void onFailed(Status status) {
      end(status);
    }

    /** False when the call has ended (or just did, its reader too slow). */
    private boolean send(GenerateResponse message) {
      if (ended || call.isCancelled()) {
        return false;
      }
      waiting = call.isReady() ? 0 : waiting + 1;
      if (waiting > buffer) {
        handle.cancel();
        end(
            Status.RESOURCE_EXHAUSTED.withDescription(
                "the client did not read its stream: more than "
                    + buffer
                    + " messages waited for it beyond the transport's buffer (serve.stream-buffer);"
                    + " its request was cancelled"));
        return false;
      }
      call.onNext(message);
      return true;
    }

    private void end(Status status) {
      if (!ended && !call.isCancelled()) {
        ended = true;
        call.onError(status.asRuntimeException());
      }
    }

    private GenerateResponse.Builder chunk(
        int[] tokenIds, String text, List<TokenLogprobs> logprobs) {
      GenerateResponse.Builder b =
          GenerateResponse.newBuilder().setRequestId(requestId).setText(text);
      for (int t : tokenIds) {
        b.addTokenIds(t);
      }
      logprobs.forEach(lp -> fill(b.addLogprobsBuilder(), lp));
      promptLogprobs.forEach(lp -> fill(b.addPromptLogprobsBuilder(), lp));
      promptLogprobs = List.of();
      return b;
    }

    private static void fill(TokenLogprob.Builder entry, TokenLogprobs lp) {
      entry.setTokenId(lp.token()).setLogprob(lp.logprob());
      for (int i = 0; i < lp.topIds().length; i++) {
        entry.addTopTokenIds(lp.topIds()[i]).addTopLogprobs(lp.topLogprobs()[i]);
      }
    }
  }
}
