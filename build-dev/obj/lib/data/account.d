build-dev/obj/lib/data/account.o: lib/data/account.c lib/data/account.h \
 lib/sys/conf.h lib/data/directory.h lib/proto/addr.h lib/base/buf.h \
 lib/crypto/keywrap.h lib/crypto/kdf.h lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h lib/base/fmt.h lib/crypto/age.h \
 lib/crypto/kdf.h lib/sys/log.h lib/data/spool.h
lib/data/account.h:
lib/sys/conf.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/fmt.h:
lib/crypto/age.h:
lib/crypto/kdf.h:
lib/sys/log.h:
lib/data/spool.h:
