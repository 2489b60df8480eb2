package io.arrakis.security;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthGrpc;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Who may call which service of a server: each service takes some credentials (a bearer token, a
 * certificate of a role), is open to anyone, or is off. Health checks and reflection are always
 * open (probes and tooling carry no credential). A call with no credential the server knows, or a
 * wrong token, is UNAUTHENTICATED; a call with a credential the server knows that the service does
 * not take (the public token or a client certificate on the admin service, a client certificate on
 * an expert node) is PERMISSION_DENIED. Tokens are compared in constant time and never echoed.
 */
public final class AccessPolicy implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private static final Set<String> ALWAYS_OPEN =
      Set.of(
          HealthGrpc.SERVICE_NAME,
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection");
  private static final String BEARER = "Bearer ";

  /** Something a caller proves. */
  public sealed interface Credential {
    /** How messages name it: "the admin token", "a router certificate". */
    String describe();
  }

  /** {@code authorization: Bearer TOKEN}. */
  private record Token(String name, byte[] expected) implements Credential {
    @Override
    public String describe() {
      return "the " + name + " token ('authorization: Bearer <token>')";
    }

    boolean matches(String header) {
      return header != null
          && MessageDigest.isEqual(expected, header.getBytes(StandardCharsets.UTF_8));
    }
  }

  /** A certificate of the cluster CA (checked by TLS) whose role is {@code role}. */
  private record Certificate(Role role) implements Credential {
    @Override
    public String describe() {
      return role.certificate() + " (mutual TLS)";
    }
  }

  /** A bearer token, named in messages ({@code name} = "public", "admin"). */
  public static Credential token(String name, String token) {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("the " + name + " bearer token must not be empty");
    }
    return new Token(name, (BEARER + token.strip()).getBytes(StandardCharsets.UTF_8));
  }

  /** A TLS client certificate of {@code role}. */
  public static Credential certificate(Role role) {
    return new Certificate(role);
  }

  /**
   * What one service takes.
   *
   * @param what the service as messages name it ("the admin Cluster service")
   * @param open anyone may call
   * @param accepted otherwise: any one of these is enough; none means the service is off
   * @param off why the service is off, when {@code accepted} is empty and it is not open
   */
  public record Rule(String what, boolean open, List<Credential> accepted, String off) {
    public Rule {
      accepted = List.copyOf(accepted);
    }

    public static Rule open(String what) {
      return new Rule(what, true, List.of(), null);
    }

    /** Any one of {@code accepted}; off (naming {@code whyOff}) when there is none. */
    public static Rule anyOf(String what, List<Credential> accepted, String whyOff) {
      return new Rule(what, false, accepted, whyOff);
    }
  }

  private final Map<String, Rule> rules;
  private final Rule otherwise;
  private final List<Token> knownTokens = new ArrayList<>();

  private AccessPolicy(Map<String, Rule> rules, Rule otherwise) {
    this.rules = Map.copyOf(rules);
    this.otherwise = otherwise;
    List<Rule> all = new ArrayList<>(rules.values());
    all.add(otherwise);
    for (Rule r : all) {
      r.accepted().stream()
          .filter(Token.class::isInstance)
          .map(Token.class::cast)
          .forEach(knownTokens::add);
    }
  }

  /**
   * {@code services} (full names, e.g. {@code arrakis.v1.Cluster}) by their own rules; every other
   * by {@code otherwise}.
   */
  public static AccessPolicy of(Map<String, Rule> services, Rule otherwise) {
    return new AccessPolicy(new HashMap<>(services), otherwise);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    String service = call.getMethodDescriptor().getServiceName();
    if (ALWAYS_OPEN.contains(service)) {
      return next.startCall(call, headers);
    }
    Rule rule = rules.getOrDefault(service, otherwise);
    if (rule.open()) {
      return next.startCall(call, headers);
    }
    Status refusal =
        check(
            rule,
            headers.get(AUTHORIZATION),
            Role.ofPeer(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION)));
    if (refusal == null) {
      return next.startCall(call, headers);
    }
    call.close(refusal, new Metadata());
    return new ServerCall.Listener<>() {};
  }

  /** Null when the call may go on, else why not. */
  private Status check(Rule rule, String authorization, Optional<Role> peer) {
    if (rule.accepted().isEmpty()) {
      return Status.PERMISSION_DENIED.withDescription(
          rule.what() + " is off on this server: " + rule.off());
    }
    for (Credential c : rule.accepted()) {
      if ((c instanceof Token t && t.matches(authorization))
          || (c instanceof Certificate cert && peer.isPresent() && peer.get() == cert.role())) {
        return null;
      }
    }
    String takes =
        rule.what()
            + " takes "
            + String.join(" or ", rule.accepted().stream().map(Credential::describe).toList());
    Token known =
        knownTokens.stream().filter(t -> t.matches(authorization)).findFirst().orElse(null);
    if (known != null || peer.isPresent()) {
      String has = known != null ? "the " + known.name() + " token" : peer.get().certificate();
      return Status.PERMISSION_DENIED.withDescription(takes + "; this call came with " + has);
    }
    if (authorization != null) {
      return Status.UNAUTHENTICATED.withDescription("invalid bearer token: " + takes);
    }
    return Status.UNAUTHENTICATED.withDescription("missing credentials: " + takes);
  }
}
