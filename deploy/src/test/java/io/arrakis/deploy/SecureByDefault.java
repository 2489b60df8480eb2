package io.arrakis.deploy;

import io.arrakis.deploy.ManifestsTest.Objs;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What "secure by default" means for the rendered manifests: every serving container serves TLS
 * from a Secret holding its own role's key and no other; routers take the public token and the
 * admin token from two Secrets (which expert pods do not mount); NetworkPolicies keep expert nodes'
 * gRPC port to routers and routers' remoting and management ports to routers; no Service exposes
 * remoting or management; nothing serves plaintext gRPC but the health ports.
 */
final class SecureByDefault {
  private static final Map<String, String> ROLE =
      Map.of("Deployment arrakis-router", "router", "StatefulSet arrakis-expert", "expert");
  private static final Map<String, String> OTHER_ROLE =
      Map.of("router", "expert", "expert", "router");
  private static final Map<String, String> ROUTER =
      Map.of("app.kubernetes.io/name", "arrakis", "app.kubernetes.io/component", "router");
  private static final Map<String, String> EXPERT =
      Map.of("app.kubernetes.io/name", "arrakis", "app.kubernetes.io/component", "expert");

  private SecureByDefault() {}

  static List<String> check(Objs o) {
    List<String> v = new ArrayList<>();
    List<String> tokenSecrets = new ArrayList<>();
    o.templates()
        .forEach(
            (workload, t) -> {
              String role = ROLE.get(workload);
              if (role == null) {
                return;
              }
              Container c = t.getSpec().getContainers().get(0);
              String where = workload + " container " + c.getName();
              List<String> args = c.getArgs();
              if (args.contains("--insecure-plaintext")) {
                v.add(where + ": --insecure-plaintext; the manifests serve TLS");
              }
              if (!ManifestsTest.TLS_DIR.equals(ManifestsTest.flag(args, "--tls-dir"))) {
                v.add(
                    where
                        + ": --tls-dir "
                        + ManifestsTest.TLS_DIR
                        + " expected, got "
                        + ManifestsTest.flag(args, "--tls-dir"));
              }
              Secret tls = secretMountedAt(o, t, c, ManifestsTest.TLS_DIR, where, v);
              if (tls != null) {
                Set<String> keys = new TreeSet<>(data(tls).keySet());
                if (!keys.containsAll(List.of("ca.crt", role + ".crt", role + ".key"))) {
                  v.add(
                      where
                          + ": the TLS Secret "
                          + tls.getMetadata().getName()
                          + " must hold ca.crt, "
                          + role
                          + ".crt and "
                          + role
                          + ".key, holds "
                          + keys);
                }
                if (keys.contains(OTHER_ROLE.get(role) + ".key") || keys.contains("ca.key")) {
                  v.add(
                      where
                          + ": the TLS Secret "
                          + tls.getMetadata().getName()
                          + " holds a key that is not the "
                          + role
                          + "'s: "
                          + keys);
                }
              }
              if (role.equals("router")) {
                for (String flag : List.of("--auth-token-file", "--admin-token-file")) {
                  String file = ManifestsTest.flag(args, flag);
                  if (file == null) {
                    v.add(where + ": " + flag + " expected (secure by default)");
                    continue;
                  }
                  Secret s =
                      secretMountedAt(o, t, c, file.substring(0, file.lastIndexOf('/')), where, v);
                  if (s != null) {
                    String value = data(s).get(file.substring(file.lastIndexOf('/') + 1));
                    if (value == null || value.isBlank()) {
                      v.add(
                          where
                              + ": "
                              + flag
                              + " "
                              + file
                              + " is no key of Secret "
                              + s.getMetadata().getName()
                              + ", or empty");
                    }
                    tokenSecrets.add(s.getMetadata().getName());
                  }
                }
              } else {
                for (Volume vol : t.getSpec().getVolumes()) {
                  if (vol.getSecret() != null
                      && vol.getSecret().getSecretName().contains("token")) {
                    v.add(
                        where
                            + ": expert pods need no bearer token, yet mount "
                            + vol.getSecret().getSecretName());
                  }
                }
              }
            });
    if (tokenSecrets.size() == 2 && tokenSecrets.get(0).equals(tokenSecrets.get(1))) {
      v.add(
          "the public and the admin token must come from two Secrets, both come from "
              + tokenSecrets.get(0));
    }
    v.addAll(networkPolicies(o));
    for (Service s : o.all(Service.class)) {
      s.getSpec()
          .getPorts()
          .forEach(
              p -> {
                String target =
                    p.getTargetPort() == null ? p.getName() : p.getTargetPort().getStrVal();
                if (List.of("remoting", "management").contains(target)
                    || List.of("remoting", "management").contains(p.getName())) {
                  v.add(
                      o.name(s)
                          + ": exposes port "
                          + p.getName()
                          + "; remoting and management stay between router pods");
                }
              });
    }
    return v;
  }

  private static Map<String, String> data(Secret s) {
    Map<String, String> out = new HashMap<>();
    if (s.getData() != null) {
      s.getData()
          .forEach(
              (k, val) ->
                  out.put(
                      k, new String(Base64.getMimeDecoder().decode(val), StandardCharsets.UTF_8)));
    }
    if (s.getStringData() != null) {
      out.putAll(s.getStringData());
    }
    return out;
  }

  /**
   * The rendered Secret mounted (as a directory) at {@code path} in {@code c}, or null with a
   * violation.
   */
  private static Secret secretMountedAt(
      Objs o, PodTemplateSpec t, Container c, String path, String where, List<String> v) {
    VolumeMount m =
        c.getVolumeMounts().stream()
            .filter(x -> x.getMountPath().equals(path))
            .findFirst()
            .orElse(null);
    Volume vol =
        m == null
            ? null
            : t.getSpec().getVolumes().stream()
                .filter(x -> x.getName().equals(m.getName()))
                .findFirst()
                .orElse(null);
    if (vol == null || vol.getSecret() == null || m.getSubPath() != null) {
      v.add(where + ": " + path + " must be a Secret mounted as a directory");
      return null;
    }
    Secret s = o.find(Secret.class, vol.getSecret().getSecretName());
    if (s == null) {
      v.add(
          where
              + ": Secret "
              + vol.getSecret().getSecretName()
              + " is not rendered (secretGenerator?)");
    }
    return s;
  }

  private static List<String> networkPolicies(Objs o) {
    List<String> v = new ArrayList<>();
    NetworkPolicy experts = selecting(o, EXPERT);
    NetworkPolicy routers = selecting(o, ROUTER);
    if (experts == null || routers == null) {
      return List.of("a NetworkPolicy for the expert pods and one for the router pods expected");
    }
    v.addAll(onlyRouters(o, experts, "grpc"));
    v.addAll(onlyRouters(o, routers, "remoting"));
    v.addAll(onlyRouters(o, routers, "management"));
    return v;
  }

  private static NetworkPolicy selecting(Objs o, Map<String, String> labels) {
    return o.all(NetworkPolicy.class).stream()
        .filter(
            p ->
                labels.equals(p.getSpec().getPodSelector().getMatchLabels())
                    && p.getSpec().getPolicyTypes().contains("Ingress"))
        .findFirst()
        .orElse(null);
  }

  /** Every ingress rule that opens {@code port} (by name, or all ports) admits router pods only. */
  private static List<String> onlyRouters(Objs o, NetworkPolicy p, String port) {
    List<String> v = new ArrayList<>();
    boolean opened = false;
    for (NetworkPolicyIngressRule r : p.getSpec().getIngress()) {
      boolean opens =
          r.getPorts().isEmpty()
              || r.getPorts().stream()
                  .map(NetworkPolicyPort::getPort)
                  .anyMatch(x -> x == null || port.equals(x.getStrVal()));
      if (!opens) {
        continue;
      }
      opened = true;
      if (r.getFrom().isEmpty()) {
        v.add(o.name(p) + ": port " + port + " open to everyone");
      }
      for (NetworkPolicyPeer peer : r.getFrom()) {
        if (peer.getPodSelector() == null
            || !ROUTER.equals(peer.getPodSelector().getMatchLabels())
            || peer.getNamespaceSelector() != null
            || peer.getIpBlock() != null) {
          v.add(o.name(p) + ": port " + port + " open to " + peer + ", not to router pods only");
        }
      }
    }
    if (!opened) {
      v.add(o.name(p) + ": port " + port + " not opened to the router pods");
    }
    return v;
  }
}
