package io.arrakis.router.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.testing.Fixtures;
import io.arrakis.router.cli.RouterMain;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How {@code arrakis router} takes the Kubernetes options; the wiring itself is {@link
 * RouterFollowsConfigMapTest}.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class KubernetesOptionsTest {
  KubernetesClient client;

  @Test
  void placementFileOrKubernetesIsRequiredButNotBoth() {
    String model = Fixtures.dir(Fixtures.MIXTRAL_TINY).toString();
    assertThat(RouterMain.execute("--model", model)).isEqualTo(2); // a usage error, as before
    assertThat(RouterMain.execute("--model", model, "--kubernetes", "--placement", "p.json"))
        .isEqualTo(2);
  }

  @Test
  void namespaceIsThePodsThenTheClientsThenDefault(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("namespace");
    Files.writeString(file, "arrakis-prod\n");
    assertThat(KubernetesPlacementSource.defaultNamespace(file, client)).isEqualTo("arrakis-prod");
    assertThat(KubernetesPlacementSource.defaultNamespace(dir.resolve("absent"), client))
        .isEqualTo(client.getNamespace());
  }
}
