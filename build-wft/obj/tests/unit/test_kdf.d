build-wft/obj/tests/unit/test_kdf.o: tests/unit/test_kdf.c lib/sys/conf.h \
 lib/base/hex.h lib/crypto/kdf.h lib/crypto/kdf_hugepages.h \
 lib/data/account.h lib/data/directory.h lib/proto/addr.h lib/base/buf.h \
 lib/crypto/keywrap.h lib/crypto/kdf.h lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h
lib/sys/conf.h:
lib/base/hex.h:
lib/crypto/kdf.h:
lib/crypto/kdf_hugepages.h:
lib/data/account.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
