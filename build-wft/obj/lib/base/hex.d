build-wft/obj/lib/base/hex.o: lib/base/hex.c lib/base/hex.h
lib/base/hex.h:
