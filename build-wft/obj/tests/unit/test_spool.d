build-wft/obj/tests/unit/test_spool.o: tests/unit/test_spool.c \
 lib/crypto/age.h lib/base/buf.h lib/data/spool.h lib/base/timeutil.h
lib/crypto/age.h:
lib/base/buf.h:
lib/data/spool.h:
lib/base/timeutil.h:
