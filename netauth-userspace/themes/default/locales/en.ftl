# netauth portal strings: English (source language, written by the netauth authors).
# Every other catalogue translates these keys; a key missing there falls back to this file.
# Operators override any key per language in THEME/locales/<language>.ftl.

language-name = English
language = Language

auth-required-title = Network Authentication Required
auth-required-text = You need to sign in to { $venue } before you can use the network.
sign-in = Sign in
sign-in-required = Sign in required
sign-in-to-use = Sign in to use this network

why-quota = Your data allowance is used up. Sign in again to continue.
why-expired = Your session time is up. Sign in again to continue.
why-idle = Your session ended because the device was inactive. Sign in again to continue.
why-operator = Your session was ended by the network operator.
why-moved = Your session moved to another address of your device (the same voucher signed in again from a new address). Sign in again to continue here.

login-title = Sign in to { $venue }
welcome = Welcome to { $venue }
default-terms = By connecting you agree to use this network lawfully and considerately. The operator may log the hardware address of your device and the time of your session, and may end sessions at any time.
terms-heading = Terms of use
username = User name
password = Password
voucher-code = Voucher code
accept-connect = Accept and connect
login-expired = This page had expired. Please try again.
login-device-limit = This account is signed in on as many devices as it may be.
login-invalid-voucher = Invalid voucher code.
login-invalid-credentials = Invalid user name or password.

status-title = Session status
online-title = You are online
online-text = Your device ({ $mac }) is signed in to { $venue }.
time-left = Time left:
data-left = Data left:
randomized-note = Your device uses a private (randomised) address on this network. If you leave and join the network again, it may use a new address and ask you to sign in again.
log-out = Log out
not-signed-in-title = Not signed in
not-signed-in-text = Your device is not signed in to { $venue }.
signed-out-title = Signed out
signed-out-text = Your device is no longer signed in to { $venue }.
sign-in-again = Sign in again

error-not-on-lan-title = Device not recognised
error-not-on-lan = This page can only be used from a device connected to the guest network. If you are connected, reconnect to the network and try again.
error-ambiguous-title = Please try again
error-ambiguous = We could not tell which device this request came from. Please try again.
error-forged-title = Page expired
error-forged = This form has expired or was not sent from this network's sign-in page. Please go back, reload the page and try again.
error-not-accepted-title = Terms not accepted
error-not-accepted = Please go back and accept the terms of use to connect.
error-full-title = Network full
error-full = The network cannot take more devices right now. Please try again later.
error-auth-unavailable-title = Sign-in unavailable
error-auth-unavailable = The sign-in service is not answering right now. Please try again in a minute.
error-internal-title = Something went wrong
error-internal = Please try again.
error-end-not-recorded-title = Signed out
error-end-not-recorded = Your device is signed out, but the network could not record it yet.
error-store-title = Sign-in unavailable
error-store = The network cannot record sign-ins right now. Please try again in a minute.
error-session-title = Something went wrong
error-session = Your device could not be signed in. Please try again.
error-grant-refused-title = Sign-in refused
error-grant-refused = The sign-in could not be confirmed: it was changed, had expired, was already used or was meant for another device. Please start again.
error-not-found-title = Not found
error-not-found = There is no such page on this portal.
