package io.arrakis.loadtest.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.placement.ExpertId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The state file: {@code {"format": 1, "model", "started_unix_ms", "tls": {"dir"} or null,
 * "auth_token_file": FILE or null, "router": {member}, "experts": [{member}]}}, a member being
 * {@code {"id", "pid", "start_unix_ms", "port", "log", "experts": [{"layer", "expert"}]}}. A file
 * without "tls" (written before TLS existed) is a plaintext cluster. Written atomically, so a
 * reader never sees half a file.
 */
final class ClusterStateJson {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final int FORMAT = 1;

  private ClusterStateJson() {}

  public static void write(ClusterState s, Path file) throws IOException {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("format", FORMAT);
    root.put("model", s.model().toString());
    root.put("started_unix_ms", s.startedMillis());
    ClusterSecurity sec = s.security();
    if (sec.tls()) {
      root.putObject("tls").put("dir", sec.tlsDir() == null ? null : sec.tlsDir().toString());
    } else {
      root.putNull("tls");
    }
    root.put(
        "auth_token_file", sec.authTokenFile() == null ? null : sec.authTokenFile().toString());
    root.put(
        "admin_token_file", sec.adminTokenFile() == null ? null : sec.adminTokenFile().toString());
    if (s.router() != null) {
      member(root.putObject("router"), s.router());
    } else {
      root.putNull("router");
    }
    ArrayNode experts = root.putArray("experts");
    for (Member m : s.experts()) {
      member(experts.addObject(), m);
    }
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, MAPPER.writeValueAsString(root) + "\n");
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static void member(ObjectNode o, Member m) {
    o.put("id", m.id());
    o.put("pid", m.process().pid());
    o.put("start_unix_ms", m.process().startMillis());
    o.put("port", m.port());
    o.put("log", m.log().toString());
    ArrayNode ex = o.putArray("experts");
    for (ExpertId e : m.experts()) {
      ex.addObject().put("layer", e.layer()).put("expert", e.expert());
    }
  }

  public static ClusterState read(Path file) throws IOException {
    JsonNode root;
    try {
      root = MAPPER.readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw new IOException(
          "state file "
              + file
              + " is not valid JSON (delete it if no cluster runs): "
              + e.getOriginalMessage());
    }
    if (root == null || root.path("format").asInt() != FORMAT) {
      throw new IOException(
          "state file " + file + " has an unknown format (delete it if no cluster runs)");
    }
    List<Member> experts = new ArrayList<>();
    for (JsonNode n : root.path("experts")) {
      experts.add(member(n));
    }
    JsonNode router = root.get("router");
    return new ClusterState(
        Path.of(root.path("model").asText()),
        root.path("started_unix_ms").asLong(),
        security(root),
        router == null || router.isNull() ? null : member(router),
        experts);
  }

  private static ClusterSecurity security(JsonNode root) {
    JsonNode tls = root.path("tls");
    ClusterSecurity transport =
        tls.isObject()
            ? ClusterSecurity.tls(
                tls.path("dir").isTextual() ? Path.of(tls.path("dir").asText()) : null)
            : ClusterSecurity.PLAINTEXT;
    return transport
        .withAuthTokenFile(file(root.path("auth_token_file")))
        .withAdminTokenFile(file(root.path("admin_token_file")));
  }

  private static Path file(JsonNode n) {
    return n.isTextual() ? Path.of(n.asText()) : null;
  }

  private static Member member(JsonNode n) {
    List<ExpertId> experts = new ArrayList<>();
    for (JsonNode e : n.path("experts")) {
      experts.add(new ExpertId(e.path("layer").asInt(), e.path("expert").asInt()));
    }
    return new Member(
        n.path("id").asText(),
        new ProcessRef(n.path("pid").asLong(), n.path("start_unix_ms").asLong()),
        n.path("port").asInt(),
        Path.of(n.path("log").asText()),
        experts);
  }
}
