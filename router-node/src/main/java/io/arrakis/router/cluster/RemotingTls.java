package io.arrakis.router.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.security.Role;
import io.arrakis.security.TlsFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.remote.artery.tcp.SSLEngineProvider;
import scala.Option;

/**
 * Pekko remoting between routers over mutual TLS (Artery {@code tls-tcp}) with the routers' own
 * certificate of {@code arrakis certs}: each side presents {@code router.crt}, trusts only the
 * cluster CA, and takes the other for a router only when its certificate says so (role router), so
 * neither an outsider nor a tool or expert node with a certificate of the CA can join the cluster.
 * Routers reach each other by pod IP, which certificates do not name: the peer's role, not its host
 * name, is what is checked. Pekko's own PEM provider reads RSA keys only; ours are EC.
 */
public final class RemotingTls implements SSLEngineProvider {
  /** Where the router's TLS files are ({@code arrakis certs} output). */
  static final String TLS_DIR = "arrakis.router.cluster.tls-dir";

  private static final String[] PROTOCOLS = {"TLSv1.3"};

  private final SSLContext context;

  /** Made by Pekko (a public constructor taking the actor system). */
  public RemotingTls(ActorSystem system) {
    Path dir = Path.of(system.settings().config().getString(TLS_DIR));
    try {
      this.context = TlsFiles.in(dir, Role.ROUTER).jdkContext();
    } catch (IOException e) {
      throw new UncheckedIOException("router cluster TLS: " + e.getMessage(), e);
    }
  }

  /**
   * Settings (to go in front of the rest) that make remoting use this provider with the files in
   * {@code tlsDir}.
   */
  public static Config pekkoConfig(Path tlsDir) {
    return ConfigFactory.parseMap(
        Map.of(
            "pekko.remote.artery.transport",
            "tls-tcp",
            "pekko.remote.artery.ssl.ssl-engine-provider",
            RemotingTls.class.getName(),
            TLS_DIR,
            tlsDir.toAbsolutePath().toString()),
        "router cluster TLS");
  }

  @Override
  public SSLEngine createServerSSLEngine(String hostname, int port) {
    SSLEngine e = engine(hostname, port, false);
    e.setNeedClientAuth(true);
    return e;
  }

  @Override
  public SSLEngine createClientSSLEngine(String hostname, int port) {
    return engine(hostname, port, true);
  }

  private SSLEngine engine(String hostname, int port, boolean client) {
    SSLEngine e = context.createSSLEngine(hostname, port);
    e.setUseClientMode(client);
    e.setEnabledProtocols(PROTOCOLS);
    return e;
  }

  @Override
  public Option<Throwable> verifyClientSession(String hostname, SSLSession session) {
    return routerOnly(session);
  }

  @Override
  public Option<Throwable> verifyServerSession(String hostname, SSLSession session) {
    return routerOnly(session);
  }

  private static Option<Throwable> routerOnly(SSLSession session) {
    Role peer = Role.ofPeer(session).orElse(null);
    return peer == Role.ROUTER
        ? Option.empty()
        : Option.apply(
            new SSLException(
                "router cluster: the peer's certificate is "
                    + (peer == null ? "of no Arrakis role" : peer.certificate())
                    + ", not a router's"));
  }
}
