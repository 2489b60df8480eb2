package io.arrakis.security;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * Rules for plaintext: allowed on loopback for local development, elsewhere only when asked for.
 */
public final class Transport {
  private Transport() {}

  public static boolean isLoopback(String host) {
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /**
   * Allows plaintext on a loopback host, elsewhere only when {@code insecureAllowed}.
   *
   * @return the warning line to log for plaintext on {@code host}
   * @throws IllegalArgumentException when plaintext is not allowed there
   */
  public static String checkPlaintext(String host, boolean insecureAllowed) {
    if (!isLoopback(host) && !insecureAllowed) {
      throw new IllegalArgumentException(
          "refusing plaintext gRPC on "
              + host
              + ": give --tls-dir DIR (see ./arrakis certs), or --insecure-plaintext inside a trusted network");
    }
    return "plaintext gRPC on " + host + " (no TLS): for local development only";
  }
}
