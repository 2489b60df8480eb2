package io.arrakis.model.kernel.cuda;

import org.bytedeco.javacpp.Pointer;

/**
 * A raw address as a pointer argument, offset already applied: JavaCPP adds a pointer's position in
 * units of its element type, which for a {@code void*} parameter is not something to rely on.
 */
final class DevicePointer extends Pointer {
  DevicePointer(long address) {
    this.address = address;
  }
}
