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
 * Makes a cluster CA and certificates signed by it, for local use and tests (BouncyCastle, EC P-256,
 * SHA-256). Each certificate is good for both server and client authentication, so one file pair
 * lets a node serve and call with mutual TLS. Writes PEM files: {@code ca.crt}, {@code ca.key} and
 * {@code NAME.crt}, {@code NAME.key} per name; keys are readable by the owner only.
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
  public static LocalCertificateAuthority create(String commonName, Duration validity) throws GeneralSecurityException {
    KeyPair keys = ecKeys();
    X500Name name = new X500Name("CN=" + commonName);
    try {
      JcaX509v3CertificateBuilder b = builder(name, name, keys, validity);
      JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(keys.getPublic()));
      return new LocalCertificateAuthority(keys, sign(b, keys), validity);
    } catch (IOException | OperatorCreationException e) {
      throw new GeneralSecurityException("could not make the CA certificate: " + e.getMessage(), e);
    }
  }

  /**
   * What {@code arrakis certs} makes: a new CA and one certificate per name, valid for {@code hosts},
   * all written into {@code dir} (see {@link #write}).
   */
  public static void createFiles(Path dir, List<String> names, List<String> hosts, Duration validity)
      throws GeneralSecurityException, IOException {
    LocalCertificateAuthority ca = create(CA_NAME, validity);
    List<Issued> issued = new ArrayList<>();
    for (String n : names) {
      issued.add(ca.issue(n.strip(), hosts));
    }
    ca.write(dir, issued);
  }

  /** A key pair and certificate for {@code name}, valid for the given DNS names and IP addresses. */
  public Issued issue(String name, List<String> hosts) throws GeneralSecurityException {
    KeyPair keys = ecKeys();
    try {
      JcaX509v3CertificateBuilder b = builder(X500Name.getInstance(caCert.getSubjectX500Principal().getEncoded()),
          new X500Name("CN=" + name), keys, validity);
      JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
      b.addExtension(Extension.extendedKeyUsage, false,
          new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
      b.addExtension(Extension.subjectAlternativeName, false, altNames(hosts));
      b.addExtension(Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(caCert));
      return new Issued(name, keys, sign(b, caKeys));
    } catch (IOException | OperatorCreationException e) {
      throw new GeneralSecurityException("could not issue a certificate for " + name + ": " + e.getMessage(), e);
    }
  }

  /** A certificate and its key. */
  public record Issued(String name, KeyPair keys, X509Certificate certificate) {}

  /** Writes {@code ca.crt}, {@code ca.key} and, per issued certificate, NAME.crt and NAME.key into {@code dir}. */
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

  private static GeneralNames altNames(List<String> hosts) throws IOException {
    List<GeneralName> names = new ArrayList<>();
    for (String h : hosts) {
      boolean ip = h.matches("[0-9.]+") || h.contains(":");
      names.add(ip ? new GeneralName(GeneralName.iPAddress, InetAddress.getByName(h).getHostAddress())
          : new GeneralName(GeneralName.dNSName, h));
    }
    return new GeneralNames(names.toArray(GeneralName[]::new));
  }

  private static JcaX509v3CertificateBuilder builder(X500Name issuer, X500Name subject, KeyPair keys, Duration validity) {
    Instant now = Instant.now();
    return new JcaX509v3CertificateBuilder(issuer, new BigInteger(127, RANDOM),
        Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(validity)), subject, keys.getPublic());
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
