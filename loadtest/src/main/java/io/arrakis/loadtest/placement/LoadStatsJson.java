package io.arrakis.loadtest.placement;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.proto.v1.ExpertLoad;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.NodeLoad;
import java.io.IOException;

/**
 * A {@code LoadStats} message as protobuf JSON would write it (lowerCamel names, 64-bit numbers as
 * strings), the form {@code Loads.parse} reads as the router's stats export. Written with Jackson
 * because protobuf-java-util is not on this module's compile classpath; unlike JsonFormat's default
 * it writes zero fields too, so the file reads plainly.
 */
public final class LoadStatsJson {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private LoadStatsJson() {}

  public static String write(LoadStats s) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("sinceUnixMs", Long.toString(s.getSinceUnixMs()));
    root.put("untilUnixMs", Long.toString(s.getUntilUnixMs()));
    ArrayNode experts = root.putArray("experts");
    for (ExpertLoad e : s.getExpertsList()) {
      ObjectNode o = experts.addObject();
      o.putObject("expert")
          .put("layer", e.getExpert().getLayer())
          .put("expert", e.getExpert().getExpert());
      o.put("tokens", Long.toUnsignedString(e.getTokens()));
    }
    ArrayNode nodes = root.putArray("nodes");
    for (NodeLoad n : s.getNodesList()) {
      nodes
          .addObject()
          .put("nodeId", n.getNodeId())
          .put("tokens", Long.toUnsignedString(n.getTokens()))
          .put("batches", Long.toUnsignedString(n.getBatches()));
    }
    try {
      return MAPPER.writeValueAsString(root) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
