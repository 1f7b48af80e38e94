build-dev/obj/lib/data/spool.o: lib/data/spool.c lib/data/spool.h \
 lib/crypto/age.h lib/base/buf.h lib/sys/log.h lib/base/mem.h \
 lib/base/rnd.h lib/base/timeutil.h
lib/data/spool.h:
lib/crypto/age.h:
lib/base/buf.h:
lib/sys/log.h:
lib/base/mem.h:
lib/base/rnd.h:
lib/base/timeutil.h:
