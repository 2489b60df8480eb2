package io.arrakis.router.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.security.LocalCertificateAuthority;
import io.arrakis.security.Role;
import io.arrakis.security.cli.CertsMain;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The router cluster over Artery tls-tcp with router certificates: two routers form it; a peer with
 * the tools' client certificate (same CA, wrong role), a router certificate of another CA, or no
 * TLS at all cannot join it.
 */
class HostileClusterPeersTest {
  @TempDir Path dir;
  private final List<ActorSystem<Void>> systems = new ArrayList<>();

  @AfterEach
  void stop() {
    systems.forEach(ActorSystem::terminate);
    systems.forEach(
        s ->
            s.getWhenTerminated()
                .toCompletableFuture()
                .orTimeout(20, TimeUnit.SECONDS)
                .exceptionally(e -> null)
                .join());
  }

  private ActorSystem<Void> router(Path tls, int port, int seedPort) {
    ClusterSettings s =
        ClusterSettings.from(ConfigFactory.load())
            .withSeeds(List.of("127.0.0.1:" + seedPort), "127.0.0.1", port);
    Config c =
        s.pekkoConfig()
            .withFallback(tls == null ? ConfigFactory.empty() : RemotingTls.pekkoConfig(tls))
            .withFallback(ConfigFactory.load());
    ActorSystem<Void> system =
        ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM_NAME, c);
    systems.add(system);
    return system;
  }

  private static long up(ActorSystem<Void> system) {
    Iterable<Member> members = Cluster.get(system).state().getMembers();
    return StreamSupport.stream(members.spliterator(), false)
        .filter(m -> m.status() == MemberStatus.up())
        .count();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * A folder whose router.crt/router.key are {@code role}'s files of {@code from}: what an intruder
   * would present.
   */
  private Path posingAsRouter(Path from, String name, Role role) throws IOException {
    Path d = Files.createDirectories(dir.resolve(name));
    Files.copy(from.resolve("ca.crt"), d.resolve("ca.crt"));
    Files.copy(from.resolve(role.fileName() + ".crt"), d.resolve("router.crt"));
    Files.copy(from.resolve(role.fileName() + ".key"), d.resolve("router.key"));
    return d;
  }

  @Test
  void routersFormTheClusterOverMutualTlsAndNoOtherCertificateJoinsIt() throws Exception {
    Path certs = dir.resolve("certs");
    assertThat(CertsMain.execute("--out", certs.toString())).isZero();
    Path rogue = dir.resolve("rogue");
    LocalCertificateAuthority other = LocalCertificateAuthority.create("rogue", Duration.ofDays(1));
    other.write(rogue, List.of(other.issue(Role.ROUTER, List.of("localhost", "127.0.0.1"))));

    int seed = freePort();
    ActorSystem<Void> a = router(certs, seed, seed);
    ActorSystem<Void> b = router(certs, freePort(), seed);
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (up(a) < 2 || up(b) < 2) {
      assertThat(System.nanoTime()).as("two routers up within 60 s").isLessThan(end);
      Thread.sleep(100);
    }

    List<ActorSystem<Void>> intruders =
        List.of(
            router(posingAsRouter(certs, "client", Role.CLIENT), freePort(), seed),
            router(posingAsRouter(rogue, "rogue-router", Role.ROUTER), freePort(), seed),
            router(null, freePort(), seed));
    Thread.sleep(10_000); // several join attempts (seed-node-retry-interval 5s)
    assertThat(up(a)).as("members of the cluster").isEqualTo(2);
    assertThat(up(b)).isEqualTo(2);
    for (ActorSystem<Void> i : intruders) {
      assertThat(Cluster.get(i).selfMember().status())
          .as("an intruder's own status")
          .isNotEqualTo(MemberStatus.up());
    }
  }
}
