package io.arrakis.security.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** TCP connections that never send a byte, opened up to a server's cap on open connections. */
public final class ConnectionFlood {
  private ConnectionFlood() {}

  /**
   * The behaviour {@code ConnectionLimits}' {@code max-connections} promises on a server with
   * {@code free} places left: that many silent connections are accepted and stay open, the next is
   * closed as soon as it arrives. All are closed on return.
   */
  public static void onePastTheCapIsClosed(int port, int free) throws IOException {
    List<Socket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < free; i++) {
        sockets.add(new Socket("127.0.0.1", port));
      }
      Socket past = new Socket("127.0.0.1", port);
      sockets.add(past);
      assertThat(closedWithin(past, 5_000)).as("a connection past the cap").isTrue();
      for (Socket s : sockets.subList(0, free)) {
        assertThat(closedWithin(s, 100)).as("a connection within the cap").isFalse();
      }
    } finally {
      for (Socket s : sockets) {
        s.close();
      }
    }
  }

  /** Whether the server closes {@code socket} within {@code millis} (what it sends is dropped). */
  public static boolean closedWithin(Socket socket, long millis) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    InputStream in = socket.getInputStream();
    byte[] buffer = new byte[4096];
    while (System.nanoTime() < deadline) {
      socket.setSoTimeout(
          (int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      try {
        if (in.read(buffer) < 0) {
          return true;
        }
      } catch (SocketTimeoutException e) {
        return false;
      } catch (IOException e) {
        return true; // reset by the server
      }
    }
    return false;
  }
}
