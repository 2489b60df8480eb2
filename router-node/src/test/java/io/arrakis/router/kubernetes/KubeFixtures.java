package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Expert pods, placement ConfigMaps and bounded waits for the Kubernetes tests. */
final class KubeFixtures {
  static final String NS = "arrakis-test";
  static final String SELECTOR = "app.kubernetes.io/component=expert";
  static final int PORT = 50061;

  private KubeFixtures() {}

  /**
   * A pod of the {@code arrakis-expert} StatefulSet, as its controller makes it (hostname +
   * subdomain).
   */
  static Pod expertPod(String name, boolean ready) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(NS)
        .addToLabels("app.kubernetes.io/component", "expert")
        .addToLabels("app.kubernetes.io/name", "arrakis")
        .endMetadata()
        .withNewSpec()
        .withHostname(name)
        .withSubdomain("arrakis-expert")
        .addNewContainer()
        .withName("expert")
        .withImage("arrakis:test")
        .endContainer()
        .endSpec()
        .withNewStatus()
        .withPodIP("10.0.0." + (name.hashCode() & 0x7f))
        .withPhase("Running")
        .addNewCondition()
        .withType("Ready")
        .withStatus(ready ? "True" : "False")
        .endCondition()
        .endStatus()
        .build();
  }

  static String dnsAddress(String pod) {
    return pod + ".arrakis-expert." + NS + ".svc:" + PORT;
  }

  /** Creates the pod, status included. */
  static void putPod(KubernetesClient client, Pod pod) {
    client.pods().inNamespace(NS).resource(pod).create();
  }

  static void setReady(KubernetesClient client, String name, boolean ready) {
    Pod pod = client.pods().inNamespace(NS).withName(name).get();
    pod.getStatus().getConditions().get(0).setStatus(ready ? "True" : "False");
    client.pods().inNamespace(NS).resource(pod).updateStatus();
  }

  /**
   * {@code nodes} nodes without addresses (discovery fills them) holding experts 0..experts-1 of
   * layer 0 round-robin.
   */
  static Placement placement(long version, int nodes, int experts) {
    List<List<ExpertId>> held = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      held.add(new ArrayList<>());
    }
    for (int e = 0; e < experts; e++) {
      held.get(e % nodes).add(new ExpertId(0, e));
    }
    List<Placement.Node> out = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      out.add(new Placement.Node("arrakis-expert-" + n, null, held.get(n)));
    }
    return new Placement(version, out);
  }

  /**
   * {@code p} (a strategy's placement, nodes expert-0..) on pods arrakis-expert-0.., without
   * addresses, as a controller publishes it.
   */
  static Placement onPods(long version, Placement p) {
    return new Placement(
        version,
        p.nodes().stream()
            .map(
                n ->
                    new Placement.Node(
                        n.id().replace("expert-", "arrakis-expert-"), null, n.experts()))
            .toList());
  }

  static ConfigMap configMap(String json) {
    return new ConfigMapBuilder()
        .withNewMetadata()
        .withName(PlacementConfigMap.DEFAULT_NAME)
        .withNamespace(NS)
        .endMetadata()
        .addToData(PlacementConfigMap.KEY, json)
        .build();
  }

  static void putPlacement(KubernetesClient client, String json) {
    ConfigMap cm = configMap(json);
    ConfigMap existing =
        client.configMaps().inNamespace(NS).withName(PlacementConfigMap.DEFAULT_NAME).get();
    if (existing == null) {
      client.configMaps().inNamespace(NS).resource(cm).create();
    } else {
      existing.setData(cm.getData());
      client.configMaps().inNamespace(NS).resource(existing).update();
    }
  }

  static void putPlacement(KubernetesClient client, Placement p) {
    putPlacement(client, PlacementJson.write(p));
  }

  /**
   * Waits, at most {@code timeout}, for {@code condition}; fails the test naming {@code what}
   * otherwise.
   */
  static void eventually(String what, Duration timeout, BooleanSupplier condition)
      throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
      }
      Thread.sleep(20);
    }
  }

  static void eventually(String what, BooleanSupplier condition) throws InterruptedException {
    eventually(what, Duration.ofSeconds(30), condition);
  }
}
