build-dev/obj/handlers/sealctl/main.o: handlers/sealctl/main.c \
 lib/data/account.h lib/sys/conf.h lib/data/directory.h lib/proto/addr.h \
 lib/base/buf.h lib/crypto/keywrap.h lib/crypto/kdf.h lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h lib/crypto/age.h lib/data/directory.h \
 lib/sys/log.h lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h \
 lib/data/store.h
lib/data/account.h:
lib/sys/conf.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/crypto/age.h:
lib/data/directory.h:
lib/sys/log.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/data/store.h:
