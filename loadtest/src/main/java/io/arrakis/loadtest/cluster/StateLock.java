package io.arrakis.loadtest.cluster;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * An exclusive lock on a state folder, held by the command that is starting (or running) its
 * cluster, so that two commands never start two clusters into the same folder. The OS releases it
 * when the JVM dies, so a crashed command leaves no stale lock behind.
 */
public final class StateLock implements AutoCloseable {
  private final FileChannel channel;
  private final FileLock lock;

  private StateLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** The lock, or empty when another process (or this one) holds it. */
  public static Optional<StateLock> tryAcquire(StateLayout layout) throws IOException {
    Files.createDirectories(layout.root());
    FileChannel ch =
        FileChannel.open(layout.lockFile(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    try {
      FileLock l = ch.tryLock();
      if (l == null) {
        ch.close();
        return Optional.empty();
      }
      return Optional.of(new StateLock(ch, l));
    } catch (OverlappingFileLockException e) {
      ch.close();
      return Optional.empty();
    }
  }

  @Override
  public void close() throws IOException {
    try {
      lock.release();
    } finally {
      channel.close();
    }
  }
}
