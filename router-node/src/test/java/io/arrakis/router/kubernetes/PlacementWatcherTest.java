package io.arrakis.router.kubernetes;

import static io.arrakis.router.kubernetes.KubeFixtures.NS;
import static io.arrakis.router.kubernetes.KubeFixtures.PORT;
import static io.arrakis.router.kubernetes.KubeFixtures.SELECTOR;
import static io.arrakis.router.kubernetes.KubeFixtures.dnsAddress;
import static io.arrakis.router.kubernetes.KubeFixtures.eventually;
import static io.arrakis.router.kubernetes.KubeFixtures.expertPod;
import static io.arrakis.router.kubernetes.KubeFixtures.placement;
import static io.arrakis.router.kubernetes.KubeFixtures.putPlacement;
import static io.arrakis.router.kubernetes.KubeFixtures.putPod;
import static io.arrakis.router.kubernetes.KubeFixtures.setReady;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

@EnableKubernetesMockClient(crud = true, https = false)
class PlacementWatcherTest {
  /** The model the placements must cover: one MoE layer of 4 experts. */
  private static final List<Integer> LAYERS = List.of(0);

  private static final int EXPERTS = 4;
  private static final Duration START = Duration.ofSeconds(30);

  KubernetesClient client;
  private ExpertDiscovery discovery;
  private PlacementWatcher watcher;
  private final List<Placement> applied = new CopyOnWriteArrayList<>();
  private final LogLines logs = new LogLines();
  private final Logger watcherLog = (Logger) LoggerFactory.getLogger(PlacementWatcher.class);

  @BeforeEach
  void start() {
    logs.start();
    watcherLog.addAppender(logs);
    discovery = new ExpertDiscovery(client, NS, SELECTOR, PORT).start(START);
    watcher =
        new PlacementWatcher(
                client, NS, PlacementConfigMap.DEFAULT_NAME, discovery, LAYERS, EXPERTS)
            .start(START);
  }

  @AfterEach
  void stop() {
    watcher.close();
    discovery.close();
    watcherLog.detachAppender(logs);
  }

  private void recordApplies() {
    watcher.applyWith(
        p -> {
          applied.add(p);
          return CompletableFuture.completedFuture(null);
        },
        -1);
  }

  private List<Long> appliedVersions() {
    return applied.stream().map(Placement::version).toList();
  }

  private List<String> warnings() {
    return logs.events.stream()
        .filter(e -> e.getLevel() == Level.WARN)
        .map(ILoggingEvent::getFormattedMessage)
        .toList();
  }

  /** The watcher's log lines; it logs from its own thread while the test reads. */
  private static final class LogLines extends AppenderBase<ILoggingEvent> {
    final List<ILoggingEvent> events = new CopyOnWriteArrayList<>();

    @Override
    protected void append(ILoggingEvent event) {
      events.add(event);
    }

    boolean any(String part) {
      return events.stream().anyMatch(e -> e.getFormattedMessage().contains(part));
    }
  }

  @Test
  void eachNewVersionIsAppliedOnceWithAddressesOfReadyPods() throws Exception {
    putPod(client, expertPod("arrakis-expert-0", true));
    putPod(client, expertPod("arrakis-expert-1", true));
    eventually("pods discovered", () -> discovery.addresses().size() == 2);
    recordApplies();

    putPlacement(client, placement(1, 2, EXPERTS));
    eventually("version 1 applied", () -> watcher.appliedVersion() == 1);
    assertThat(applied)
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.node("arrakis-expert-0").address())
                  .isEqualTo(dnsAddress("arrakis-expert-0"));
              assertThat(p.node("arrakis-expert-1").address())
                  .isEqualTo(dnsAddress("arrakis-expert-1"));
            });

    // the same version again (rewritten, or only the metadata changed): nothing to roll out
    putPlacement(client, placement(1, 2, EXPERTS));
    client
        .configMaps()
        .inNamespace(NS)
        .withName(PlacementConfigMap.DEFAULT_NAME)
        .edit(
            cm -> {
              cm.getMetadata().setAnnotations(Map.of("touched", "yes"));
              return cm;
            });

    // version 2 moves an expert and gives one node an explicit address, which is kept
    Placement v2 = placement(2, 2, EXPERTS);
    List<Placement.Node> nodes = new ArrayList<>(v2.nodes());
    nodes.set(
        0,
        new Placement.Node(
            "arrakis-expert-0",
            "10.9.9.9:7000",
            List.of(new ExpertId(0, 0), new ExpertId(0, 2), new ExpertId(0, 1))));
    putPlacement(client, new Placement(2, nodes));
    eventually("version 2 applied", () -> watcher.appliedVersion() == 2);
    Thread.sleep(300); // time for any duplicate to show
    assertThat(appliedVersions()).containsExactly(1L, 2L);
    assertThat(applied.get(1).node("arrakis-expert-0").address()).isEqualTo("10.9.9.9:7000");
    assertThat(applied.get(1).node("arrakis-expert-1").address())
        .isEqualTo(dnsAddress("arrakis-expert-1"));

    // an older version showing up later is not rolled back to
    putPlacement(client, placement(1, 2, EXPERTS));
    Thread.sleep(300);
    assertThat(appliedVersions()).containsExactly(1L, 2L);
  }

  @Test
  void versionWaitsForItsPodsToBeReady() throws Exception {
    putPod(client, expertPod("arrakis-expert-0", true));
    putPod(client, expertPod("arrakis-expert-1", false));
    eventually("pod 0 discovered", () -> discovery.address("arrakis-expert-0") != null);
    recordApplies();
    putPlacement(client, placement(1, 2, EXPERTS));
    eventually("waiting logged", () -> logs.any("waits for Ready expert pods [arrakis-expert-1]"));
    assertThatThrownBy(() -> watcher.awaitFirst(Duration.ofMillis(200)))
        .hasMessageContaining("waits for Ready expert pods [arrakis-expert-1]");
    assertThat(applied).isEmpty();

    setReady(client, "arrakis-expert-1", true);
    eventually("applied once the pod is Ready", () -> watcher.appliedVersion() == 1);
    assertThat(applied)
        .singleElement()
        .satisfies(
            p ->
                assertThat(p.node("arrakis-expert-1").address())
                    .isEqualTo(dnsAddress("arrakis-expert-1")));
    assertThat(watcher.awaitFirst(Duration.ofSeconds(1))).isEqualTo(applied.get(0));
    assertThat(
            logs.events.stream().filter(e -> e.getFormattedMessage().contains("waits for Ready")))
        .hasSize(1);
  }

  @Test
  void badConfigMapIsIgnoredAndThePlacementInUseKept() throws Exception {
    putPod(client, expertPod("arrakis-expert-0", true));
    putPod(client, expertPod("arrakis-expert-1", true));
    eventually("pods discovered", () -> discovery.addresses().size() == 2);
    recordApplies();
    putPlacement(client, placement(1, 2, EXPERTS));
    eventually("version 1 applied", () -> watcher.appliedVersion() == 1);

    putPlacement(client, "{\"version\": 2, \"nodes\": [");
    eventually(
        "bad JSON logged", () -> warnings().stream().anyMatch(w -> w.contains("not valid JSON")));
    Placement uncovered =
        new Placement(
            3,
            List.of(
                new Placement.Node(
                    "arrakis-expert-0",
                    null,
                    List.of(new ExpertId(0, 0), new ExpertId(0, 1), new ExpertId(0, 2)))));
    putPlacement(client, PlacementJson.write(uncovered));
    eventually(
        "uncovered placement logged",
        () -> warnings().stream().anyMatch(w -> w.contains("no node holds expert 0:3")));
    client
        .configMaps()
        .inNamespace(NS)
        .withName(PlacementConfigMap.DEFAULT_NAME)
        .edit(
            cm -> {
              cm.setData(Map.of("other.json", "{}"));
              return cm;
            });
    eventually(
        "missing key logged",
        () -> warnings().stream().anyMatch(w -> w.contains("has no key 'placement.json'")));

    assertThat(warnings())
        .hasSize(3)
        .allSatisfy(
            w ->
                assertThat(w)
                    .startsWith("ConfigMap " + NS + "/arrakis-placement ignored: ")
                    .endsWith("keeping placement version 1"));
    assertThat(appliedVersions()).containsExactly(1L);
    assertThat(watcher.appliedVersion()).isEqualTo(1);

    putPlacement(client, placement(4, 2, EXPERTS));
    eventually("a good version after bad ones is applied", () -> watcher.appliedVersion() == 4);
    assertThat(appliedVersions()).containsExactly(1L, 4L);
  }

  @Test
  void failedRolloutIsRetried() throws Exception {
    putPod(client, expertPod("arrakis-expert-0", true));
    putPod(client, expertPod("arrakis-expert-1", true));
    eventually("pods discovered", () -> discovery.addresses().size() == 2);
    AtomicInteger calls = new AtomicInteger();
    watcher.applyWith(
        p ->
            calls.incrementAndGet() == 1
                ? CompletableFuture.failedFuture(
                    new IllegalStateException("expert node arrakis-expert-1 could not load"))
                : CompletableFuture.completedFuture(null),
        -1);
    putPlacement(client, placement(1, 2, EXPERTS));
    eventually("applied on the second try", () -> watcher.appliedVersion() == 1);
    assertThat(calls).hasValue(2);
    assertThat(warnings())
        .singleElement()
        .asString()
        .contains("not applied (attempt 1): expert node arrakis-expert-1 could not load");
  }

  @Test
  void awaitFirstSaysWhenThereIsNoConfigMap() {
    assertThatThrownBy(() -> watcher.awaitFirst(Duration.ofMillis(200)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("ConfigMap " + NS + "/arrakis-placement does not exist");
  }
}
