package io.arrakis.router.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Status;
import java.util.Locale;

/**
 * An error as OpenAI's API answers it: an HTTP status and {@code {"error": {"message", "type",
 * "param", "code"}}}, {@code param} naming the request field at fault. Thrown by request parsing,
 * made from the {@link Status} of a generation that failed.
 */
final class ApiError extends Exception {
  private final int status;
  private final String type;
  private final String param;
  private final String code;

  public ApiError(int status, String type, String message, String param, String code) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }

  /** 400: the request is wrong in field {@code param} (null: as a whole). */
  public static ApiError invalid(String param, String message) {
    return new ApiError(400, "invalid_request_error", message, param, null);
  }

  public static ApiError unauthorized(String message) {
    return new ApiError(401, "authentication_error", message, null, "invalid_api_key");
  }

  public static ApiError notFound(String message) {
    return new ApiError(404, "invalid_request_error", message, null, "not_found");
  }

  public static ApiError unknownModel(String model, String served) {
    return new ApiError(
        404,
        "invalid_request_error",
        "The model '" + model + "' does not exist: this router serves '" + served + "'",
        "model",
        "model_not_found");
  }

  public static ApiError tooLarge(long limit) {
    return new ApiError(
        413,
        "invalid_request_error",
        "the request body is larger than " + limit + " bytes (arrakis.router.http.max-body-bytes)",
        null,
        "request_too_large");
  }

  /**
   * A generation's failure: INVALID_ARGUMENT 400 (its description names the field: {@code
   * sampling.X} becomes {@code X}; a prompt's fault is {@code promptField}), RESOURCE_EXHAUSTED
   * 429, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, UNIMPLEMENTED 501, anything else 500.
   */
  public static ApiError of(Status status, String promptField) {
    String message =
        status.getDescription() == null ? status.getCode().toString() : status.getDescription();
    return switch (status.getCode()) {
      case INVALID_ARGUMENT -> {
        if (message.startsWith("sampling.")) {
          String rest = message.substring("sampling.".length());
          int end = 0;
          while (end < rest.length()
              && (Character.isLetterOrDigit(rest.charAt(end)) || rest.charAt(end) == '_')) {
            end++;
          }
          yield invalid(rest.substring(0, end), rest);
        }
        yield invalid(promptField, message);
      }
      case RESOURCE_EXHAUSTED ->
          new ApiError(429, "rate_limit_error", message, null, "rate_limit_exceeded");
      case UNAVAILABLE -> new ApiError(503, "service_unavailable", message, null, "no_expert_node");
      case DEADLINE_EXCEEDED -> new ApiError(504, "timeout", message, null, "deadline_exceeded");
      case UNIMPLEMENTED ->
          new ApiError(501, "invalid_request_error", message, null, "not_implemented");
      default ->
          new ApiError(
              500,
              "server_error",
              message,
              null,
              status.getCode().toString().toLowerCase(Locale.ROOT));
    };
  }

  public int status() {
    return status;
  }

  public String param() {
    return param;
  }

  public String type() {
    return type;
  }

  public String code() {
    return code;
  }

  /** {@code {"error": {...}}}. */
  public ObjectNode toJson() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", getMessage());
    e.put("type", type);
    e.put("param", param);
    e.put("code", code);
    return root;
  }
}
