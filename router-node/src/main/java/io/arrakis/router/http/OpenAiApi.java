package io.arrakis.router.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.serve.GenerationRequest;
import io.arrakis.router.serve.GenerationService;
import io.arrakis.router.serve.LateHandle;
import io.arrakis.router.serve.ServedModel;
import java.time.Duration;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import javax.net.ssl.SSLSession;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.SslSessionInfo;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.Materializer;

/**
 * The OpenAI-compatible endpoints over a {@link GenerationService} (the one gRPC {@code Generate}
 * uses): {@code POST /v1/completions}, {@code POST /v1/chat/completions}, {@code GET /v1/models}
 * (and {@code /v1/models/ID}), {@code GET /health}. Checks credentials before reading a body, reads
 * at most {@code max-body-bytes} of it (413 past that, without reading on), parses it, submits the
 * request and answers whole or as server-sent events.
 */
final class OpenAiApi {
  private final GenerationService service;
  private final HttpSettings settings;
  private final HttpAccess access;
  private final RequestParser parser;
  private final Duration deadline;
  private final BooleanSupplier serving;
  private final Materializer mat;
  private final long startedSeconds = System.currentTimeMillis() / 1000;

  /**
   * @param service null on a router serving a layer-only model (the generation endpoints answer
   *     501)
   * @param deadline how long a request may take (the serving default deadline)
   * @param serving false while the router drains: {@code /health} answers 503
   * @param maxStopStrings stop strings a request may give
   */
  OpenAiApi(
      GenerationService service,
      HttpSettings settings,
      HttpAccess access,
      Duration deadline,
      int maxStopStrings,
      BooleanSupplier serving,
      Materializer mat) {
    this.service = service;
    this.settings = settings;
    this.access = access;
    this.deadline = deadline;
    this.serving = serving;
    this.mat = mat;
    this.parser = service == null ? null : new RequestParser(service.model(), maxStopStrings);
  }

  CompletionStage<HttpResponse> handle(HttpRequest request, ConnectionScope scope) {
    long received = System.nanoTime();
    String path = request.getUri().path();
    boolean get = request.method().equals(HttpMethods.GET);
    boolean post = request.method().equals(HttpMethods.POST);
    try {
      if (path.equals("/health")) {
        requireMethod(get, "GET", path);
        return done(health());
      }
      boolean completions = path.equals("/v1/completions");
      boolean chat = path.equals("/v1/chat/completions");
      boolean models = path.equals("/v1/models") || path.startsWith("/v1/models/");
      if (!completions && !chat && !models) {
        // a body is left unread (the connection then closes after the answer): never read for
        // nothing
        throw ApiError.notFound(
            "no such endpoint: "
                + request.method().name()
                + " "
                + JsonFields.abbreviate(path)
                + " (this server has POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health)");
      }
      access.check(
          request.getHeader("Authorization").map(h -> h.value()).orElse(null), tlsSession(request));
      if (models) {
        requireMethod(get, "GET", path);
        return done(models(path));
      }
      requireMethod(post, "POST", path);
      if (service == null) {
        throw new ApiError(
            501,
            "invalid_request_error",
            "this router serves a layer-only model (the Forward API "
                + "only); completions need a whole-model checkpoint",
            null,
            "not_implemented");
      }
      OptionalLong length = request.entity().getContentLengthOption();
      if (length.isPresent() && length.getAsLong() > settings.maxBodyBytes()) {
        throw ApiError.tooLarge(
            settings.maxBodyBytes()); // unread: the connection closes after the answer
      }
      return PekkoFutures.plain(
              request
                  .entity()
                  .withSizeLimit(settings.maxBodyBytes())
                  .toStrict(settings.bodyTimeout().toMillis(), settings.maxBodyBytes(), mat))
          .thenCompose(strict -> generate(strict.getData().toArray(), chat, scope, received))
          .exceptionally(OpenAiApi::bodyFailure);
    } catch (ApiError e) {
      return done(Replies.error(e));
    }
  }

  private CompletionStage<HttpResponse> generate(
      byte[] body, boolean chat, ConnectionScope scope, long received) {
    OpenAiRequest r;
    try {
      r = parser.parse(body, chat);
    } catch (ApiError e) {
      return done(Replies.error(e));
    }
    String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
    ResponseShapes shapes =
        new ResponseShapes(
            r,
            id,
            service.model().name(),
            System.currentTimeMillis() / 1000,
            service::tokenText,
            service::decode);
    GenerationRequest request =
        new GenerationRequest(
            id, r.prompt(), r.sampling(), r.cacheSalt(), received, received + deadline.toNanos());
    LateHandle handle = new LateHandle();
    CompletableFuture<HttpResponse> response;
    if (r.stream()) {
      StreamedAnswer answer = new StreamedAnswer(shapes, r, handle, settings.streamBuffer());
      handle.set(service.submit(request, answer));
      response = answer.response();
    } else {
      WholeAnswer answer = new WholeAnswer(shapes, r.promptField());
      handle.set(service.submit(request, answer));
      response = answer.response();
    }
    // a connection that ends first cancels the request; a streamed one stays tracked until its
    // response has started (its events then cancel it when the client goes)
    scope.add(handle);
    response.whenComplete((ok, failed) -> scope.done(handle));
    return response;
  }

  private static HttpResponse bodyFailure(Throwable t) {
    Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    if (cause instanceof EntityStreamSizeException e) {
      return Replies.error(ApiError.tooLarge(e.limit()));
    }
    if (cause instanceof TimeoutException) {
      return Replies.error(
          new ApiError(
              408,
              "invalid_request_error",
              "the request body did not arrive in time " + "(arrakis.router.http.body-timeout)",
              null,
              "request_timeout"));
    }
    return Replies.error(
        ApiError.invalid(null, "the request body could not be read: " + cause.getMessage()));
  }

  private HttpResponse health() {
    boolean up = serving.getAsBoolean();
    ObjectNode body = JsonNodeFactory.instance.objectNode().put("status", up ? "ok" : "draining");
    return Replies.json(up ? 200 : 503, body);
  }

  private HttpResponse models(String path) throws ApiError {
    if (path.equals("/v1/models")) {
      ObjectNode root = JsonNodeFactory.instance.objectNode().put("object", "list");
      var data = root.putArray("data");
      if (service != null) {
        data.add(model(service.model()));
      }
      return Replies.json(200, root);
    }
    String id = path.substring("/v1/models/".length());
    if (service == null || !id.equals(service.model().name())) {
      throw ApiError.notFound("The model '" + JsonFields.abbreviate(id) + "' does not exist");
    }
    return Replies.json(200, model(service.model()));
  }

  private ObjectNode model(ServedModel m) {
    return JsonNodeFactory.instance
        .objectNode()
        .put("id", m.name())
        .put("object", "model")
        .put("created", startedSeconds)
        .put("owned_by", "arrakis")
        .put("max_model_len", m.contextTokens());
  }

  private static void requireMethod(boolean ok, String method, String path) throws ApiError {
    if (!ok) {
      throw new ApiError(
          405, "invalid_request_error", path + " takes " + method, null, "method_not_allowed");
    }
  }

  private static SSLSession tlsSession(HttpRequest request) {
    return request
        .getAttribute(AttributeKeys.sslSession)
        .map(SslSessionInfo::getSession)
        .orElse(null);
  }

  private static CompletionStage<HttpResponse> done(HttpResponse r) {
    return CompletableFuture.completedFuture(r);
  }
}
