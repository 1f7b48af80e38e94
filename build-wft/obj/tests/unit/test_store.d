build-wft/obj/tests/unit/test_store.o: tests/unit/test_store.c \
 lib/crypto/age.h lib/base/buf.h lib/base/rnd.h lib/data/spool.h \
 lib/data/store.h /usr/include/sqlcipher/sqlite3.h
lib/crypto/age.h:
lib/base/buf.h:
lib/base/rnd.h:
lib/data/spool.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
