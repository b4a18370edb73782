// Signs a file with a private key of a PKCS#11 token through Java's SunPKCS11 provider, as a
// Java application would: java SunPkcs11Sign.java CONFIG PIN ALIAS ALGORITHM IN OUT
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;

public class SunPkcs11Sign {
  public static void main(String[] args) throws Exception {
    Provider provider = Security.getProvider("SunPKCS11").configure(args[0]);
    Security.addProvider(provider);
    KeyStore store = KeyStore.getInstance("PKCS11", provider);
    store.load(null, args[1].toCharArray());
    PrivateKey key = (PrivateKey) store.getKey(args[2], null);
    Signature signature = Signature.getInstance(args[3], provider);
    signature.initSign(key);
    signature.update(Files.readAllBytes(Path.of(args[4])));
    Files.write(Path.of(args[5]), signature.sign());
  }
}
