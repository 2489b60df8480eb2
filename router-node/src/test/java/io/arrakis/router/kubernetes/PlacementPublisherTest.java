package io.arrakis.router.kubernetes;

import static io.arrakis.router.kubernetes.KubeFixtures.NS;
import static io.arrakis.router.kubernetes.KubeFixtures.placement;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.placement.PlacementJson;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true, https = false)
class PlacementPublisherTest {
  private static final String NAME = PlacementConfigMap.DEFAULT_NAME;
  private static final String PATH = "/api/v1/namespaces/" + NS + "/configmaps/" + NAME;

  KubernetesClient client;
  KubernetesMockServer server;

  private ConfigMap read() {
    return client.configMaps().inNamespace(NS).withName(NAME).get();
  }

  @Test
  void createsTheConfigMapThenUpdatesIt() {
    PlacementPublisher publisher = new PlacementPublisher(client, NS, NAME);
    assertThat(publisher.current()).isEmpty();

    assertThat(publisher.publish(placement(1, 2, 4))).isEqualTo(PlacementPublisher.Result.CREATED);
    assertThat(PlacementConfigMap.read(read())).isEqualTo(placement(1, 2, 4));

    // someone else's key and labels survive an update
    client
        .configMaps()
        .inNamespace(NS)
        .withName(NAME)
        .edit(
            cm -> {
              cm.getData().put("notes.txt", "kept");
              return cm;
            });
    assertThat(publisher.publish(placement(2, 2, 4))).isEqualTo(PlacementPublisher.Result.UPDATED);
    ConfigMap cm = read();
    assertThat(PlacementConfigMap.read(cm)).isEqualTo(placement(2, 2, 4));
    assertThat(cm.getData()).containsEntry("notes.txt", "kept");
    assertThat(cm.getMetadata().getLabels()).containsEntry("app.kubernetes.io/part-of", "arrakis");
    assertThat(publisher.current()).contains(placement(2, 2, 4));

    assertThat(publisher.publish(placement(2, 2, 4)))
        .isEqualTo(PlacementPublisher.Result.UNCHANGED);
  }

  @Test
  void concurrentModificationIsRetriedWithTheFreshResourceVersion() throws Exception {
    PlacementPublisher publisher = new PlacementPublisher(client, NS, NAME);
    publisher.publish(placement(1, 2, 4));
    ConfigMap stale = read();
    // another writer changes the ConfigMap after our publisher has read it: the publisher's first
    // read
    // returns the old state (and resourceVersion), so its first write must be refused with 409
    client
        .configMaps()
        .inNamespace(NS)
        .withName(NAME)
        .edit(
            cm -> {
              cm.getData().put("notes.txt", "written concurrently");
              return cm;
            });
    server.expect().get().withPath(PATH).andReturn(200, stale).once();
    drainRequests();

    assertThat(publisher.publish(placement(2, 2, 4))).isEqualTo(PlacementPublisher.Result.UPDATED);

    List<String> calls = new ArrayList<>();
    for (RecordedRequest r = server.takeRequest(1, TimeUnit.SECONDS);
        r != null;
        r = server.takeRequest(100, TimeUnit.MILLISECONDS)) {
      calls.add(r.getMethod() + " " + r.getPath());
    }
    assertThat(calls).containsExactly("GET " + PATH, "PUT " + PATH, "GET " + PATH, "PUT " + PATH);
    ConfigMap cm = read();
    assertThat(PlacementConfigMap.read(cm)).isEqualTo(placement(2, 2, 4));
    assertThat(cm.getData()).containsEntry("notes.txt", "written concurrently"); // not overwritten
  }

  @Test
  void givesUpAfterBoundedAttempts() {
    PlacementPublisher publisher = new PlacementPublisher(client, NS, NAME, 3);
    publisher.publish(placement(1, 2, 4));
    server
        .expect()
        .put()
        .withPath(PATH)
        .andReturn(
            409,
            new StatusBuilder()
                .withStatus("Failure")
                .withCode(409)
                .withReason("Conflict")
                .withMessage("the object has been modified")
                .build())
        .always();
    assertThatThrownBy(() -> publisher.publish(placement(2, 2, 4)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "ConfigMap "
                + NS
                + "/"
                + NAME
                + " changed concurrently 3 times; placement version 2 not published");
  }

  @Test
  void neverReplacesANewerVersionOrForksOne() {
    PlacementPublisher publisher = new PlacementPublisher(client, NS, NAME);
    publisher.publish(placement(5, 2, 4));
    assertThatThrownBy(() -> publisher.publish(placement(4, 2, 4)))
        .isInstanceOf(PlacementPublisher.StalePlacementException.class)
        .hasMessageContaining("already holds placement version 5, newer than 4");
    assertThatThrownBy(() -> publisher.publish(placement(5, 1, 4)))
        .isInstanceOf(PlacementPublisher.StalePlacementException.class)
        .hasMessageContaining("different placement version 5");
    assertThat(PlacementConfigMap.read(read())).isEqualTo(placement(5, 2, 4));
  }

  @Test
  void replacesAConfigMapThatHoldsNoValidPlacement() {
    client.configMaps().inNamespace(NS).resource(KubeFixtures.configMap("not json")).create();
    PlacementPublisher publisher = new PlacementPublisher(client, NS, NAME);
    assertThatThrownBy(publisher::current).hasMessageContaining("not valid JSON");
    assertThat(publisher.publish(placement(1, 2, 4))).isEqualTo(PlacementPublisher.Result.UPDATED);
    assertThat(read().getData())
        .isEqualTo(Map.of(PlacementConfigMap.KEY, PlacementJson.write(placement(1, 2, 4))));
  }

  private void drainRequests() throws InterruptedException {
    while (server.takeRequest(50, TimeUnit.MILLISECONDS) != null) {
      // forget what came before the call under test
    }
  }
}
