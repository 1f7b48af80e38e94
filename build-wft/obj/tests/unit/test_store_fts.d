build-wft/obj/tests/unit/test_store_fts.o: tests/unit/test_store_fts.c \
 lib/base/rnd.h lib/data/store.h /usr/include/sqlcipher/sqlite3.h \
 lib/base/buf.h
lib/base/rnd.h:
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
