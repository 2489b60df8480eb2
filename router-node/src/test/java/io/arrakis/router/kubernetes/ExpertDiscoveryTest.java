package io.arrakis.router.kubernetes;

import static io.arrakis.router.kubernetes.KubeFixtures.NS;
import static io.arrakis.router.kubernetes.KubeFixtures.PORT;
import static io.arrakis.router.kubernetes.KubeFixtures.SELECTOR;
import static io.arrakis.router.kubernetes.KubeFixtures.dnsAddress;
import static io.arrakis.router.kubernetes.KubeFixtures.eventually;
import static io.arrakis.router.kubernetes.KubeFixtures.expertPod;
import static io.arrakis.router.kubernetes.KubeFixtures.putPod;
import static io.arrakis.router.kubernetes.KubeFixtures.setReady;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true, https = false)
class ExpertDiscoveryTest {
  KubernetesClient client;
  private ExpertDiscovery discovery;

  @AfterEach
  void close() {
    if (discovery != null) {
      discovery.close();
    }
  }

  @Test
  void readyPodsHaveAddressesAndLeaveWhenNotReadyOrDeleted() throws Exception {
    putPod(client, expertPod("arrakis-expert-0", true)); // there before discovery starts
    discovery = new ExpertDiscovery(client, NS, SELECTOR, PORT).start(Duration.ofSeconds(30));
    List<Map<String, String>> seen = new CopyOnWriteArrayList<>();
    discovery.addListener(seen::add);
    eventually("pod 0 found", () -> discovery.address("arrakis-expert-0") != null);
    assertThat(discovery.addresses())
        .containsExactly(Map.entry("arrakis-expert-0", dnsAddress("arrakis-expert-0")));

    putPod(client, expertPod("arrakis-expert-1", false));
    Thread.sleep(300); // a pod that is not Ready has no address
    assertThat(discovery.addresses()).containsOnlyKeys("arrakis-expert-0");

    setReady(client, "arrakis-expert-1", true);
    eventually("pod 1 ready", () -> discovery.address("arrakis-expert-1") != null);
    assertThat(discovery.address("arrakis-expert-1")).isEqualTo(dnsAddress("arrakis-expert-1"));
    // listeners hear of a change just after the map is published
    Map<String, String> both =
        Map.of(
            "arrakis-expert-0",
            dnsAddress("arrakis-expert-0"),
            "arrakis-expert-1",
            dnsAddress("arrakis-expert-1"));
    eventually("listeners told of pod 1", () -> lastIs(seen, both));

    setReady(client, "arrakis-expert-0", false);
    eventually("pod 0 not ready", () -> discovery.address("arrakis-expert-0") == null);

    client.pods().inNamespace(NS).withName("arrakis-expert-1").delete();
    eventually("pod 1 deleted", () -> discovery.addresses().isEmpty());
    eventually("listeners told of no pod", () -> lastIs(seen, Map.of()));
  }

  private static boolean lastIs(List<Map<String, String>> seen, Map<String, String> want) {
    return !seen.isEmpty() && seen.get(seen.size() - 1).equals(want);
  }

  @Test
  void ignoresPodsOutsideTheSelector() throws Exception {
    discovery = new ExpertDiscovery(client, NS, SELECTOR, PORT).start(Duration.ofSeconds(30));
    Pod router =
        new PodBuilder(expertPod("arrakis-router-abc", true))
            .editMetadata()
            .addToLabels("app.kubernetes.io/component", "router")
            .endMetadata()
            .build();
    putPod(client, router);
    putPod(client, expertPod("arrakis-expert-0", true));
    eventually("expert found", () -> discovery.address("arrakis-expert-0") != null);
    assertThat(discovery.addresses()).containsOnlyKeys("arrakis-expert-0");
  }

  @Test
  void podWithoutStableNameIsReachedAtItsIp() {
    Pod pod =
        new PodBuilder(expertPod("expert-x", true))
            .editSpec()
            .withHostname(null)
            .withSubdomain(null)
            .endSpec()
            .editStatus()
            .withPodIP("10.1.2.3")
            .endStatus()
            .build();
    assertThat(ExpertDiscovery.addressOf(pod, PORT)).isEqualTo("10.1.2.3:" + PORT);
    Pod v6 = new PodBuilder(pod).editStatus().withPodIP("fd00::7").endStatus().build();
    assertThat(ExpertDiscovery.addressOf(v6, PORT)).isEqualTo("[fd00::7]:" + PORT);
    Pod terminating =
        new PodBuilder(expertPod("arrakis-expert-0", true))
            .editMetadata()
            .withDeletionTimestamp("2026-01-01T00:00:00Z")
            .endMetadata()
            .build();
    assertThat(ExpertDiscovery.addressOf(terminating, PORT)).isNull();
  }
}
