package io.arrakis.loadtest.cluster;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/** Folder trees of a state folder (the classpath snapshot, the cluster's own certificates). */
final class FileTrees {
  private FileTrees() {}

  /**
   * Deletes a folder tree; files that vanish meanwhile are fine (a shutdown hook and a failing
   * start may clear the same folder at once).
   */
  static void delete(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    Files.walkFileTree(
        dir,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            Files.deleteIfExists(file);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
            if (e instanceof NoSuchFileException) {
              return FileVisitResult.CONTINUE;
            }
            throw e;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
            if (e != null && !(e instanceof NoSuchFileException)) {
              throw e;
            }
            try {
              Files.deleteIfExists(d);
            } catch (DirectoryNotEmptyException raced) {
              // the other deleter is still at work inside; it removes the folder last
            }
            return FileVisitResult.CONTINUE;
          }
        });
  }
}
