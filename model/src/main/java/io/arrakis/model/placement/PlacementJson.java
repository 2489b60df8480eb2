package io.arrakis.model.placement;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/** Reads and writes placements as JSON, naming the field at fault in every error. */
public final class PlacementJson {
  private static final ObjectMapper MAPPER =
      new ObjectMapper()
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .enable(SerializationFeature.INDENT_OUTPUT);

  private PlacementJson() {}

  public static Placement read(Path file) throws IOException {
    try {
      return parse(Files.readString(file));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  public static Placement parse(String json) {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("placement is not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(
          "placement must be a JSON object with 'version' and 'nodes'");
    }
    JsonNode version = root.get("version");
    if (version == null
        || !version.canConvertToLong()
        || !version.isIntegralNumber()
        || version.asLong() < 0
        || version.asLong() > PlacementVersions.MAX) {
      throw new IllegalArgumentException(
          "placement 'version' must be a non-negative integer, at most "
              + PlacementVersions.MAX
              + " (2^53 - 1)");
    }
    JsonNode nodes = root.get("nodes");
    if (nodes == null || !nodes.isArray()) {
      throw new IllegalArgumentException("placement 'nodes' must be an array");
    }
    List<Placement.Node> out = new ArrayList<>();
    for (int i = 0; i < nodes.size(); i++) {
      out.add(node(nodes.get(i), "nodes[" + i + "]"));
    }
    return new Placement(version.asLong(), out);
  }

  private static Placement.Node node(JsonNode n, String where) {
    if (!n.isObject()) {
      throw new IllegalArgumentException(where + " must be an object");
    }
    JsonNode id = n.get("id");
    if (id == null || !id.isTextual() || id.asText().isBlank()) {
      throw new IllegalArgumentException(where + ".id must be a non-empty string");
    }
    JsonNode address = n.get("address");
    if (address != null && !address.isNull() && !address.isTextual()) {
      throw new IllegalArgumentException(where + ".address must be a string \"host:port\"");
    }
    JsonNode experts = n.get("experts");
    if (experts == null || !experts.isArray()) {
      throw new IllegalArgumentException(
          where + ".experts must be an array of {\"layer\", \"expert\"}");
    }
    List<ExpertId> ids = new ArrayList<>();
    for (int j = 0; j < experts.size(); j++) {
      JsonNode e = experts.get(j);
      String at = where + ".experts[" + j + "]";
      ids.add(new ExpertId(index(e, "layer", at), index(e, "expert", at)));
    }
    return new Placement.Node(
        id.asText(), address == null || address.isNull() ? null : address.asText(), ids);
  }

  private static int index(JsonNode e, String field, String at) {
    JsonNode v = e == null ? null : e.get(field);
    if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0) {
      throw new IllegalArgumentException(at + "." + field + " must be a non-negative integer");
    }
    return v.asInt();
  }

  public static String write(Placement p) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("version", p.version());
    ArrayNode nodes = root.putArray("nodes");
    for (Placement.Node n : p.nodes()) {
      ObjectNode o = nodes.addObject();
      o.put("id", n.id());
      if (n.address() != null) {
        o.put("address", n.address());
      }
      ArrayNode ex = o.putArray("experts");
      for (ExpertId e : n.experts()) {
        ex.addObject().put("layer", e.layer()).put("expert", e.expert());
      }
    }
    try {
      return MAPPER.writeValueAsString(root) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public static void write(Placement p, Path file) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, write(p));
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
