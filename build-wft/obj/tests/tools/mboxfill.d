build-wft/obj/tests/tools/mboxfill.o: tests/tools/mboxfill.c \
 lib/data/account.h lib/sys/conf.h lib/data/directory.h lib/proto/addr.h \
 lib/base/buf.h lib/crypto/keywrap.h lib/crypto/kdf.h lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h lib/base/b64.h lib/base/buf.h \
 lib/sys/log.h lib/data/store.h
lib/data/account.h:
lib/sys/conf.h:
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
lib/crypto/keywrap.h:
lib/crypto/kdf.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/b64.h:
lib/base/buf.h:
lib/sys/log.h:
lib/data/store.h:
