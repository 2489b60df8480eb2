package io.arrakis.loadtest.simulate;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.report.ReportFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A calibration as JSON:
 *
 * <pre>{"model": {"hidden", "ffn", "experts", "top_k"},
 *  "expert_cpu_s": [{"rows", "seconds"}, ...],
 *  "router": {"request_s", "token_s", "gate_per_token_expert_s", "call_s"},
 *  "node": {"call_s", "row_s"}, "client": {"request_s", "token_s"},
 *  "shared_host": {"efficiency", "hand_off_s"},
 *  "source": {"machine", "cores", "measured_at", "note"},
 *  "measurements": {...}}</pre>
 *
 * {@code measurements} (what the figures were derived from) is written for people and ignored on
 * read. Files written before {@code shared_host} was measured read as {@link
 * Calibration.SharedHost#IDEAL}.
 */
public final class CalibrationJson {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String BUILT_IN = "default-calibration.json";

  private CalibrationJson() {}

  public static ObjectNode toJson(Calibration c, JsonNode measurements) {
    ObjectNode root = MAPPER.createObjectNode();
    root.putObject("model")
        .put("hidden", c.model().hidden())
        .put("ffn", c.model().ffn())
        .put("experts", c.model().experts())
        .put("top_k", c.model().topK());
    ArrayNode expert = root.putArray("expert_cpu_s");
    c.expert().forEach(p -> expert.addObject().put("rows", p.rows()).put("seconds", p.seconds()));
    root.putObject("router")
        .put("request_s", c.router().requestSeconds())
        .put("token_s", c.router().tokenSeconds())
        .put("gate_per_token_expert_s", c.router().gateSecondsPerTokenExpert())
        .put("call_s", c.router().callSeconds());
    root.putObject("node")
        .put("call_s", c.node().callSeconds())
        .put("row_s", c.node().rowSeconds());
    root.putObject("client")
        .put("request_s", c.client().requestSeconds())
        .put("token_s", c.client().tokenSeconds());
    root.putObject("shared_host")
        .put("efficiency", c.host().efficiency())
        .put("hand_off_s", c.host().handOffSeconds());
    root.putObject("source")
        .put("machine", c.source().machine())
        .put("cores", c.source().cores())
        .put("measured_at", c.source().measuredAt())
        .put("note", c.source().note());
    if (measurements != null) {
      root.set("measurements", measurements);
    }
    return root;
  }

  public static void write(Calibration c, JsonNode measurements, Path file) throws IOException {
    ReportFiles.write(file, MAPPER.writeValueAsString(toJson(c, measurements)) + "\n");
  }

  /**
   * Reads a calibration file; a missing or malformed one is an IllegalArgumentException naming the
   * file and field.
   */
  public static Calibration read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new NoSuchFileException(
          file + " (make one with 'arrakis simulate calibrate --out " + file + "')");
    }
    try {
      return parse(MAPPER.readTree(file.toFile()));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * The calibration shipped with the project, measured on its development machine (see its {@code
   * source}): for projections before a machine of one's own is calibrated.
   */
  public static Calibration builtIn() {
    try (InputStream in = CalibrationJson.class.getResourceAsStream(BUILT_IN)) {
      if (in == null) {
        throw new IllegalStateException(
            "the built-in calibration " + BUILT_IN + " is missing from the classpath");
      }
      return parse(MAPPER.readTree(in));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Calibration parse(JsonNode root) {
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("a calibration must be a JSON object");
    }
    JsonNode m = object(root, "model");
    Calibration.ModelSizes model =
        new Calibration.ModelSizes(
            integer(m, "hidden"), integer(m, "ffn"), integer(m, "experts"), integer(m, "top_k"));
    JsonNode points = root.get("expert_cpu_s");
    if (points == null || !points.isArray() || points.isEmpty()) {
      throw new IllegalArgumentException(
          "'expert_cpu_s' must be a non-empty array of {\"rows\", \"seconds\"}");
    }
    List<Calibration.Point> expert = new ArrayList<>();
    for (JsonNode p : points) {
      expert.add(new Calibration.Point(integer(p, "rows"), number(p, "seconds")));
    }
    JsonNode r = object(root, "router");
    JsonNode n = object(root, "node");
    JsonNode c = object(root, "client");
    JsonNode s = object(root, "source");
    Calibration.SharedHost host = Calibration.SharedHost.IDEAL;
    if (root.has("shared_host")) {
      JsonNode h = object(root, "shared_host");
      host = new Calibration.SharedHost(number(h, "efficiency"), number(h, "hand_off_s"));
    }
    return new Calibration(
        model,
        expert,
        new Calibration.RouterCosts(
            number(r, "request_s"),
            number(r, "token_s"),
            number(r, "gate_per_token_expert_s"),
            number(r, "call_s")),
        new Calibration.NodeCosts(number(n, "call_s"), number(n, "row_s")),
        new Calibration.ClientCosts(number(c, "request_s"), number(c, "token_s")),
        host,
        new Calibration.Source(
            s.path("machine").asText(""),
            s.path("cores").asInt(0),
            s.path("measured_at").asText(""),
            s.path("note").asText("")));
  }

  private static JsonNode object(JsonNode root, String field) {
    JsonNode v = root.get(field);
    if (v == null || !v.isObject()) {
      throw new IllegalArgumentException("'" + field + "' must be an object");
    }
    return v;
  }

  private static int integer(JsonNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
      throw new IllegalArgumentException("'" + field + "' must be an integer");
    }
    return v.asInt();
  }

  private static double number(JsonNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || !v.isNumber()) {
      throw new IllegalArgumentException("'" + field + "' must be a number");
    }
    return v.asDouble();
  }
}
