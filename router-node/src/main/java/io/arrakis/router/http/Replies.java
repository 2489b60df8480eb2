package io.arrakis.router.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;

/** HTTP responses of JSON bodies, errors in OpenAI's shape included. */
final class Replies {
  static final ObjectMapper JSON = new ObjectMapper();

  private Replies() {}

  static HttpResponse json(int status, JsonNode body) {
    return HttpResponse.create()
        .withStatus(status)
        .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, bytes(body)));
  }

  /** An error; a 401 says how to authenticate. */
  static HttpResponse error(ApiError e) {
    HttpResponse r = json(e.status(), e.toJson());
    if (e.status() == 401) {
      List<HttpHeader> headers = List.of(RawHeader.create("WWW-Authenticate", "Bearer"));
      r = r.addHeaders(headers);
    }
    return r;
  }

  static byte[] bytes(JsonNode node) {
    try {
      return JSON.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(
          "a JSON tree could not be written", e); // trees of our own: cannot happen
    }
  }
}
