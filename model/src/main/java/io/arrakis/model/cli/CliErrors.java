package io.arrakis.model.cli;

import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;

/** How every Arrakis command prints a failure: one line that says what it is about. */
public final class CliErrors {
  private CliErrors() {}

  public static String oneLine(Throwable e) {
    String message = e.getMessage();
    if (e instanceof NoSuchFileException) {
      message = "no such file: " + message; // these carry the bare path as their message
    } else if (e instanceof AccessDeniedException) {
      message = "permission denied: " + message;
    } else if (e instanceof FileAlreadyExistsException) {
      message = "already exists: " + message;
    } else if (message == null || message.isBlank()) {
      message = e.toString();
    }
    return message.strip().replaceAll("\\s*\\R\\s*", " ");
  }
}
