package io.arrakis.security;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Makes a cluster CA and certificates signed by it (BouncyCastle, EC P-256, SHA-256), one per
 * {@link Role}: the role is in the subject ({@code OU}) and in a URI subject alternative name, and
 * the extended key usage is the role's: server authentication for servers (expert nodes), client
 * authentication for clients (tools, admins), both for routers (they serve clients and call expert
 * nodes). Only server certificates name hosts. Writes PEM files: {@code ca.crt}, {@code ca.key} and
 * {@code NAME.crt}, {@code NAME.key} per role; keys are readable by the owner only.
 */
public final class LocalCertificateAuthority {
  /** The common name of the CA that {@link #createFiles} makes. */
  public static final String CA_NAME = "arrakis-cluster-ca";

  private static final SecureRandom RANDOM = new SecureRandom();

  private final KeyPair caKeys;
  private final X509Certificate caCert;
  private final Duration validity;

  private LocalCertificateAuthority(KeyPair caKeys, X509Certificate caCert, Duration validity) {
    this.caKeys = caKeys;
    this.caCert = caCert;
    this.validity = validity;
  }

  /** A new CA named {@code commonName}. */
  public static LocalCertificateAuthority create(String commonName, Duration validity)
      throws GeneralSecurityException {
    KeyPair keys = ecKeys();
    X500Name name = new X500Name("CN=" + commonName);
    try {
      JcaX509v3CertificateBuilder b = builder(name, name, keys, validity);
      JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      b.addExtension(
          Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(
          Extension.subjectKeyIdentifier,
          false,
          utils.createSubjectKeyIdentifier(keys.getPublic()));
      return new LocalCertificateAuthority(keys, sign(b, keys), validity);
    } catch (IOException | OperatorCreationException e) {
      throw new GeneralSecurityException("could not make the CA certificate: " + e.getMessage(), e);
    }
  }

  /**
   * What {@code arrakis certs} makes: a new CA and one certificate per role, the router's valid for
   * {@code routerHosts} and the expert nodes' for {@code expertHosts}, all written into {@code dir}
   * (see {@link #write}).
   */
  public static void createFiles(
      Path dir, List<String> routerHosts, List<String> expertHosts, Duration validity)
      throws GeneralSecurityException, IOException {
    LocalCertificateAuthority ca = create(CA_NAME, validity);
    List<Issued> issued = new ArrayList<>();
    for (Role r : Role.values()) {
      issued.add(
          ca.issue(r, r == Role.ROUTER ? routerHosts : r == Role.EXPERT ? expertHosts : List.of()));
    }
    ca.write(dir, issued);
  }

  /**
   * A key pair and certificate for {@code role}, named after it; a server's is valid for the given
   * DNS names (a leading {@code *.} matches any one label) and IP addresses.
   */
  public Issued issue(Role role, List<String> hosts) throws GeneralSecurityException {
    return issue(role, role.fileName(), hosts);
  }

  /** As {@link #issue(Role, List)}, written to {@code name.crt} and {@code name.key}. */
  public Issued issue(Role role, String name, List<String> hosts) throws GeneralSecurityException {
    if (!role.serves() && !hosts.isEmpty()) {
      throw new IllegalArgumentException(
          "a " + role.fileName() + " certificate is for clients and names no host");
    }
    KeyPair keys = ecKeys();
    try {
      JcaX509v3CertificateBuilder b =
          builder(
              X500Name.getInstance(caCert.getSubjectX500Principal().getEncoded()),
              new X500Name(
                  "CN=arrakis-" + role.fileName() + ",OU=" + role.fileName() + ",O=Arrakis"),
              keys,
              validity);
      JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(
          Extension.keyUsage,
          true,
          new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
      List<KeyPurposeId> usages = new ArrayList<>();
      if (role.serves()) {
        usages.add(KeyPurposeId.id_kp_serverAuth);
      }
      if (role.calls()) {
        usages.add(KeyPurposeId.id_kp_clientAuth);
      }
      b.addExtension(
          Extension.extendedKeyUsage,
          false,
          new ExtendedKeyUsage(usages.toArray(KeyPurposeId[]::new)));
      b.addExtension(Extension.subjectAlternativeName, false, altNames(role, hosts));
      b.addExtension(
          Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(caCert));
      return new Issued(name, keys, sign(b, caKeys));
    } catch (IOException | OperatorCreationException e) {
      throw new GeneralSecurityException(
          "could not issue a " + role.fileName() + " certificate: " + e.getMessage(), e);
    }
  }

  /** A certificate and its key. */
  public record Issued(String name, KeyPair keys, X509Certificate certificate) {}

  /**
   * Writes {@code ca.crt}, {@code ca.key} and, per issued certificate, NAME.crt and NAME.key into
   * {@code dir}.
   */
  public void write(Path dir, List<Issued> issued) throws IOException {
    Files.createDirectories(dir);
    writePem(dir.resolve("ca.crt"), caCert, false);
    writeKey(dir.resolve("ca.key"), caKeys);
    for (Issued i : issued) {
      writePem(dir.resolve(i.name() + ".crt"), i.certificate(), false);
      writeKey(dir.resolve(i.name() + ".key"), i.keys());
    }
  }

  public X509Certificate certificate() {
    return caCert;
  }

  private static GeneralNames altNames(Role role, List<String> hosts) throws IOException {
    List<GeneralName> names = new ArrayList<>();
    names.add(new GeneralName(GeneralName.uniformResourceIdentifier, role.uri()));
    for (String h : hosts) {
      boolean ip = h.matches("[0-9.]+") || h.contains(":");
      names.add(
          ip
              ? new GeneralName(GeneralName.iPAddress, InetAddress.getByName(h).getHostAddress())
              : new GeneralName(GeneralName.dNSName, h));
    }
    return new GeneralNames(names.toArray(GeneralName[]::new));
  }

  private static JcaX509v3CertificateBuilder builder(
      X500Name issuer, X500Name subject, KeyPair keys, Duration validity) {
    Instant now = Instant.now();
    return new JcaX509v3CertificateBuilder(
        issuer,
        new BigInteger(127, RANDOM),
        Date.from(now.minus(Duration.ofMinutes(5))),
        Date.from(now.plus(validity)),
        subject,
        keys.getPublic());
  }

  private static X509Certificate sign(JcaX509v3CertificateBuilder b, KeyPair signer)
      throws OperatorCreationException, GeneralSecurityException {
    ContentSigner s = new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate());
    X509CertificateHolder holder = b.build(s);
    return new JcaX509CertificateConverter().getCertificate(holder);
  }

  private static KeyPair ecKeys() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
    return g.generateKeyPair();
  }

  private static void writePem(Path file, Object o, boolean secret) throws IOException {
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(o);
    }
    Files.writeString(file, out.toString());
    if (secret) {
      restrict(file);
    }
  }

  private static void writeKey(Path file, KeyPair keys) throws IOException {
    // PKCS#8, the form Netty's SslContextBuilder reads
    writePem(file, new JcaPKCS8Generator(keys.getPrivate(), null), true);
  }

  private static void restrict(Path file) throws IOException {
    try {
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: leave the default permissions
    }
  }
}
